"""config/namespaced: bmo confined to its own namespace - a Role instead of the
ClusterRole (the same rules), and WATCH_NAMESPACE set to the pod's namespace."""

from __future__ import annotations

from typing import Any

import pytest

from bmo.settings import load as load_settings
from tests.config.render import find, render

pytestmark = pytest.mark.kubectl

NAMESPACE = "baremetal-operator-system"
PREFIX = "baremetal-operator-"


@pytest.fixture(scope="module")
def namespaced() -> list[dict[str, Any]]:
    return render("namespaced")


def test_manager_rbac_is_a_role_with_the_cluster_roles_rules(
    namespaced: list[dict[str, Any]],
) -> None:
    kinds = {(o["kind"], o["metadata"]["name"]) for o in namespaced}
    assert ("ClusterRole", f"{PREFIX}manager-role") not in kinds
    assert ("ClusterRoleBinding", f"{PREFIX}manager-rolebinding") not in kinds
    role = find(namespaced, "Role", f"{PREFIX}manager-role")
    assert role["metadata"]["namespace"] == NAMESPACE
    cluster_role = find(render("rbac"), "ClusterRole", "manager-role")
    assert role["rules"] == cluster_role["rules"], "config/namespaced/role.yaml drifted"
    binding = find(namespaced, "RoleBinding", f"{PREFIX}manager-rolebinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": f"{PREFIX}manager-role",
    }
    account = find(namespaced, "ServiceAccount")["metadata"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]


def test_the_manager_watches_its_own_namespace_only(namespaced: list[dict[str, Any]]) -> None:
    deployment = find(namespaced, "Deployment", f"{PREFIX}controller-manager")
    [manager] = deployment["spec"]["template"]["spec"]["containers"]
    env = {
        e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        for e in manager["env"]
    }
    assert env["WATCH_NAMESPACE"] == "metadata.namespace"
    settings = load_settings(
        manager["args"],
        {
            "WATCH_NAMESPACE": NAMESPACE,
            "POD_NAMESPACE": NAMESPACE,
            "IRONIC_ENDPOINT": "http://127.0.0.1:6385/v1/",
        },
    )
    assert settings.manager.namespaces == (NAMESPACE,)
