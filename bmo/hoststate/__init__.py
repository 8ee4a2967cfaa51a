"""The BareMetalHost state machine: pure logic over the provisioner interface.

It mirrors the Go operator's ``internal/controller/metal3.io/host_state_machine.go`` (the
state handlers) and the ``action*`` functions of ``baremetalhost_controller.go``. No
Kubernetes client and no Ironic: it takes a host snapshot and its inputs and returns what to
write and when to come back.
"""
