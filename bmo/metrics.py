"""The one Prometheus registry every bmo metric is registered on, and the manager serves.

A private registry rather than prometheus_client's global one: tests and embedding code can
import bmo without colliding with other users of the default registry, and what `/metrics`
serves is exactly what bmo defines. Modules that own metrics (the work queue, the host
controller) create them once, at import, with `registry=REGISTRY`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

__all__ = ["REGISTRY", "exposition"]

REGISTRY = CollectorRegistry()


def exposition() -> bytes:
    """The registry in the Prometheus text format, as `/metrics` returns it."""
    return generate_latest(REGISTRY)
