"""The Secret-label lookup the webhook's credentials policy uses (bmo's opt-in
``BMO_BMC_CREDENTIALS_LABEL``, see :mod:`bmo.api.secretpolicy`).

The webhook has no Kubernetes client. ``bmo run`` gives it this lookup: a cache of the
Secrets that carry the policy's label (an informer with that label selector, started on
every replica like the others), then a GET for a Secret the cache does not hold - a Secret
created a moment before its host, or one without the label. Only the labels are returned;
the Secret's data never leaves this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes import client as k8s

from bmo.runtime.errors import NotFound, kube_errors
from bmo.runtime.informer import SECRETS
from bmo.runtime.jsonapi import JsonApi, core_path
from bmo.runtime.manager import Manager
from bmo.settings import Settings
from bmo.webhook.config import SecretLabels

__all__ = ["SecretLabelLookup", "credentials_lookup"]


class SecretLabelLookup:
    """``(namespace, name)`` -> the Secret's labels, or ``None`` when it does not exist.

    API failures other than 404 raise (the webhook then answers 500: fail closed).
    """

    def __init__(self, store: Any, api_client: k8s.ApiClient) -> None:
        self._store = store
        self._json = JsonApi(api_client)

    def __call__(self, namespace: str, name: str) -> Mapping[str, str] | None:
        cached = self._store.get(f"{namespace}/{name}")
        if cached is not None:
            return dict((cached.get("metadata") or {}).get("labels") or {})
        try:
            with kube_errors():
                # ``read_namespaced_secret``'s request, thin (``bmo.runtime.jsonapi``).
                secret = self._json.get(core_path("secrets", namespace, name))
        except NotFound:
            return None
        return dict(((secret or {}).get("metadata") or {}).get("labels") or {})


def credentials_lookup(manager: Manager, settings: Settings) -> SecretLabels | None:
    """The lookup for ``bmo run``'s webhook, ``None`` when the policy is off."""
    policy = settings.controller.credentials_policy
    if not policy.enabled:
        return None
    informer = manager.informer(SECRETS, label_selector=policy.selector)
    return SecretLabelLookup(informer, manager.api_client)
