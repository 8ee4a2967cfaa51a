"""One package per Kubernetes kind bmo reconciles; each exposes ``setup(manager, settings)``.

The Go operator's ``SetupWithManager``: a controller package registers its informers, event
handlers and reconciler on the shared manager, and ``bmo run`` calls every package's setup.
"""
