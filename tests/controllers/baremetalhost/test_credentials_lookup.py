"""The Secret-label lookup ``bmo run`` injects into the webhook for the credentials policy:
cache first, then the API server; labels only; ``None`` for a Secret that does not exist."""

from __future__ import annotations

import dataclasses

from kubernetes import client as k8s

from bmo.api.secretpolicy import CredentialsSecretPolicy
from bmo.controllers.baremetalhost.credentials_lookup import (
    SecretLabelLookup,
    credentials_lookup,
)
from bmo.runtime.informer import SECRETS
from bmo.runtime.manager import Manager
from bmo.runtime.settings import ManagerSettings
from bmo.settings import ControllerSettings, Settings
from tests.controllers.baremetalhost.test_host_reconciler_units import DictStore
from tests.integration.operator import create_secret

LABEL = ("metal3.io/bmc-credentials", "true")


def test_lookup_reads_cache_then_api(kube_api_client: k8s.ApiClient, kube_namespace: str) -> None:
    create_secret(kube_api_client, kube_namespace, name="plain")
    store = DictStore()
    store.put(
        {
            "metadata": {
                "name": "cached",
                "namespace": kube_namespace,
                "labels": {LABEL[0]: LABEL[1]},
            },
            "data": {"password": "c2VjcmV0"},
        }
    )
    lookup = SecretLabelLookup(store, kube_api_client)
    assert lookup(kube_namespace, "cached") == {LABEL[0]: LABEL[1]}
    assert lookup(kube_namespace, "plain") == {}
    assert lookup(kube_namespace, "absent") is None


def test_lookup_exists_only_with_the_policy(kube_api_client: k8s.ApiClient) -> None:
    manager = Manager(ManagerSettings(), kube_api_client)
    assert credentials_lookup(manager, Settings()) is None
    assert manager.informers == []
    on = dataclasses.replace(
        Settings(),
        controller=ControllerSettings(credentials_policy=CredentialsSecretPolicy(label=LABEL)),
    )
    assert credentials_lookup(manager, on) is not None
    assert [(i.resource, i.label_selector) for i in manager.informers] == [
        (SECRETS, "metal3.io/bmc-credentials=true")
    ]
