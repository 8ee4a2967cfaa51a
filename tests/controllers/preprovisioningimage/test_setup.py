"""When ``bmo run`` starts the PreprovisioningImage controller (upstream ``main.go``: only
with ``-build-preprov-image``, and only if the image provider ``CanStart``)."""

from __future__ import annotations

import uuid
from typing import Any, cast

from kubernetes import client as k8s

from bmo.controllers.preprovisioningimage.setup import PREPROVISIONING_IMAGES, setup
from bmo.provisioner.fixture import FixtureProvisionerFactory
from bmo.runtime.manager import Manager
from bmo.settings import load

FLAGS = ["--provisioner", "fixture", "--webhook-port", "0", "--metrics-addr", "0"]


def manager_for(api_client: k8s.ApiClient, flags: list[str]) -> tuple[Manager, Any]:
    settings = load(flags, {})
    manager = Manager(
        settings.manager,
        api_client,
        leader_election=settings.leader_election,
        identity=f"test-{uuid.uuid4().hex[:6]}",
    )
    return manager, settings


def test_not_started_without_the_flag_or_without_images(kube_api_client: k8s.ApiClient) -> None:
    factory = FixtureProvisionerFactory()
    manager, settings = manager_for(kube_api_client, FLAGS)
    assert setup(manager, settings, provisioner_factory=factory) is None
    manager, settings = manager_for(kube_api_client, [*FLAGS, "--build-preprov-image"])
    assert setup(manager, settings, provisioner_factory=factory, environ={}) is None


def test_started_with_the_flag_and_a_deploy_image(kube_api_client: k8s.ApiClient) -> None:
    manager, settings = manager_for(kube_api_client, [*FLAGS, "--build-preprov-image"])
    wired = setup(
        manager,
        settings,
        provisioner_factory=FixtureProvisionerFactory(),
        environ={"DEPLOY_ISO_URL": "http://127.0.0.1/ipa.iso"},
    )
    assert wired is not None
    assert cast(Any, wired.images).resource == PREPROVISIONING_IMAGES
    assert wired.controller.name == "preprovisioningimage"
