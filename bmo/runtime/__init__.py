"""The generic controller runtime: what client-go and controller-runtime give a Go operator.

Nothing here knows a BareMetalHost: clock, work queue and rate limiters, informer and cache,
event handlers, the reconcile contract, leader election, the manager and its probe and
metrics servers. Controllers (``bmo.controllers.*``) are built on it; it imports none of them.
"""
