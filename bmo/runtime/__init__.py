"""The generic controller runtime: what client-go and controller-runtime give a Go operator.

Nothing here knows a BareMetalHost: clock, work queue and rate limiters, informer and cache,
event handlers, the reconcile contract, the Kubernetes error boundary (``errors``), leader
election, the manager with its probe and metrics servers, and the settings groups they take
(``settings``). Controllers (``bmo.controllers.*``) are built on it and register with the
manager through their ``setup``; it imports none of them.
"""
