"""A shard (``--host-label-selector``) acts only on its own hosts, in every controller.

Every controller reads hosts from the one shard-limited BareMetalHost informer
(``bmo.controllers.hosts``), so no controller opens a second, unselected watch; and a
DataImage or BMCEventSubscription whose host is not in the shard's cache is left alone
(another shard owns it), instead of being reported as hostless or losing its finalizer.
"""

from __future__ import annotations

import argparse

import pytest
from kubernetes import client as k8s

from bmo import settings as settings_mod
from bmo.commands.run import build_manager, build_provisioner_factory
from bmo.controllers.baremetalhost import metrics
from bmo.controllers.bmceventsubscription.reconciler import BMCEventSubscriptionReconciler
from bmo.controllers.dataimage.reconciler import DataImageReconciler
from bmo.controllers.hosts import BAREMETALHOSTS
from bmo.provisioner.fixture import FixtureProvisionerFactory, FixtureRegistry
from bmo.runtime.controller import Result
from tests.controllers.dataimage.helpers import create_object, get_object
from tests.controllers.preprovisioningimage.helpers import LiveStore


@pytest.mark.parametrize("selector", [None, "shard=a"], ids=["unsharded", "sharded"])
def test_every_controller_shares_the_one_host_informer(
    kube_api_client: k8s.ApiClient, selector: str | None
) -> None:
    parser = argparse.ArgumentParser()
    settings_mod.add_arguments(parser)
    argv = ["--webhook-port", "0", "--provisioner", "fixture"]
    if selector is not None:
        argv += ["--host-label-selector", selector]
    settings = settings_mod.from_args(parser.parse_args(argv), {})
    manager = build_manager(
        settings, kube_api_client, provisioner_factory=build_provisioner_factory(settings)
    )
    try:
        host_informers = [i for i in manager.informers if i.resource == BAREMETALHOSTS]
        assert len(host_informers) == 1, host_informers
        assert host_informers[0].label_selector == selector
    finally:
        metrics.uninstall_host_collector()


def test_sharded_subscription_of_another_shards_host_is_left_alone(
    kube_api_client: k8s.ApiClient, kube_namespace: str
) -> None:
    reconciler = BMCEventSubscriptionReconciler(
        kube_api_client,
        LiveStore(kube_api_client, "bmceventsubscriptions"),
        LiveStore(kube_api_client, "baremetalhosts"),
        FixtureProvisionerFactory(FixtureRegistry()),
        sharded=True,
    )
    spec = {"hostName": "elsewhere", "destination": "http://127.0.0.1:9000/events/"}
    create_object(
        kube_api_client, kube_namespace, "bmceventsubscriptions", "BMCEventSubscription", "s", spec
    )
    assert reconciler.reconcile(kube_namespace, "s") == Result()
    got = get_object(kube_api_client, kube_namespace, "bmceventsubscriptions", "s")
    assert got is not None
    assert not got.get("status"), got  # no "host not found" error written by this shard
    assert not got["metadata"].get("finalizers")


def test_sharded_data_image_of_another_shards_host_keeps_its_finalizer(
    kube_api_client: k8s.ApiClient, kube_namespace: str
) -> None:
    reconciler = DataImageReconciler(
        kube_api_client,
        LiveStore(kube_api_client, "dataimages"),
        LiveStore(kube_api_client, "baremetalhosts"),
        FixtureProvisionerFactory(FixtureRegistry()),
        sharded=True,
    )
    created = create_object(
        kube_api_client,
        kube_namespace,
        "dataimages",
        "DataImage",
        "elsewhere",
        {"url": "http://127.0.0.1:8080/data.iso"},
    )
    body = dict(created)
    body["metadata"] = {**created["metadata"], "finalizers": ["dataimage.metal3.io"]}
    k8s.CustomObjectsApi(kube_api_client).replace_namespaced_custom_object(
        "metal3.io", "v1alpha1", kube_namespace, "dataimages", "elsewhere", body
    )
    assert reconciler.reconcile(kube_namespace, "elsewhere") == Result()
    got = get_object(kube_api_client, kube_namespace, "dataimages", "elsewhere")
    assert got is not None
    assert got["metadata"]["finalizers"] == ["dataimage.metal3.io"]
