"""The BareMetalHost lookup the webhook's BMCEventSubscription check uses: does the host a
new subscription names exist?

The webhook has no Kubernetes client. ``bmo run`` gives it this lookup over the informer the
BareMetalHost controller already registers (same resource and ``--host-label-selector``, so
the manager hands back that informer and no second watch is opened; caches fill on every
replica, leader or not). A cache miss is not yet a "no": the cache may lag the host created
a moment before (``kubectl apply`` of a host and its subscription), may not have synced
yet, and in a shard holds only that shard's hosts. So a miss is settled by one GET, and
only the API server's 404 answers "no". Any other failure answers "unknown", and the
webhook admits (the subscription controller reports a missing host and retries).
"""

from __future__ import annotations

from typing import Any, Final

from kubernetes import client as k8s

from bmo.api.constants import API_GROUP, API_VERSION, BMH_PLURAL
from bmo.controllers.baremetalhost.setup import BAREMETALHOSTS
from bmo.runtime.errors import KubeError, NotFound, kube_errors
from bmo.runtime.manager import Manager
from bmo.settings import Settings
from bmo.webhook.config import HostLookup

__all__ = ["HOST_GET_TIMEOUT", "HostExistsLookup", "host_lookup"]

HOST_GET_TIMEOUT: Final = 5.0
"""Seconds for the GET on a cache miss: well inside the API server's default 10 s webhook
timeout, so a slow API server yields "unknown" rather than a timed-out admission."""


class HostExistsLookup:
    """``(namespace, name)`` -> ``True`` (in the cache, or the API server has it), ``False``
    (the API server answered 404) or ``None`` (the GET failed otherwise)."""

    def __init__(self, store: Any, api_client: k8s.ApiClient) -> None:
        self._store = store
        self._api = k8s.CustomObjectsApi(api_client)

    def __call__(self, namespace: str, name: str) -> bool | None:
        if self._store.get(f"{namespace}/{name}") is not None:
            return True
        try:
            with kube_errors():
                self._api.get_namespaced_custom_object(
                    API_GROUP,
                    API_VERSION,
                    namespace,
                    BMH_PLURAL,
                    name,
                    _request_timeout=HOST_GET_TIMEOUT,
                )
        except NotFound:
            return False
        except KubeError:
            return None
        return True


def host_lookup(manager: Manager, settings: Settings) -> HostLookup:
    """The lookup for ``bmo run``'s webhook, over the BareMetalHost controller's informer."""
    hosts = manager.informer(
        BAREMETALHOSTS, label_selector=settings.controller.host_label_selector or None
    )
    return HostExistsLookup(hosts, manager.api_client)
