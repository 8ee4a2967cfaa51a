"""The one Prometheus registry every bmo metric is registered on, and the manager serves.

A private registry rather than prometheus_client's global one: tests and embedding code can
import bmo without colliding with other users of the default registry, and what `/metrics`
serves is exactly what bmo defines. Modules that own metrics (the work queue, the host
controller) create them once, at import, with `registry=REGISTRY`.
"""

from __future__ import annotations

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest

__all__ = ["REGISTRY", "exposition"]

# The Go client exports no `*_created` series; dashboards written for the Go operator
# neither need nor expect them, and they double the series count.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry()


def exposition() -> bytes:
    """The registry in the Prometheus text format, as `/metrics` returns it."""
    return generate_latest(REGISTRY)
