"""The BareMetalHost controller's Kubernetes side (upstream ``baremetalhost_controller.go``).

The reconciler loads the host, its credentials Secret and HardwareData, runs the pure state
machine (``bmo.hoststate``) against a provisioner, and writes status, events and metrics.
"""
