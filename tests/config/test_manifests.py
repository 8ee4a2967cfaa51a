"""The kustomizations under config/: they render, and what they render is what a real
cluster accepts and what bmo expects (ports, paths, flags, certificate wiring)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import pytest

from bmo.api.host import BareMetalHost
from bmo.api.schema import validate_manifest
from bmo.api.validation import validate_create
from bmo.ironic.config import IronicConfig
from bmo.settings import load as load_settings
from bmo.webhook import (
    DEFAULT_CERT_DIR,
    HOSTFIRMWARECOMPONENTS_PATH,
    HOSTFIRMWARESETTINGS_PATH,
    WEBHOOK_PATHS,
    add_arguments,
    from_args,
)
from tests.config import openapi
from tests.config.render import CERT_MANAGER_GROUP, KUSTOMIZATIONS, find, render

pytestmark = pytest.mark.kubectl

NAMESPACE = "baremetal-operator-system"
PREFIX = "baremetal-operator-"


@pytest.fixture(scope="module")
def default() -> list[dict[str, Any]]:
    return render("default")


@pytest.fixture(scope="module")
def manager(default: list[dict[str, Any]]) -> dict[str, Any]:
    return find(default, "Deployment", f"{PREFIX}controller-manager")


def container(deployment: dict[str, Any], name: str = "manager") -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    [found] = [c for c in containers if c["name"] == name]
    return found


@pytest.mark.parametrize("directory", KUSTOMIZATIONS)
def test_renders_with_identity_on_every_object(directory: str) -> None:
    objects = render(directory)
    assert objects, f"config/{directory} rendered nothing"
    for obj in objects:
        assert obj.get("apiVersion"), obj
        assert obj.get("kind"), obj
        assert obj.get("metadata", {}).get("name"), obj


@pytest.mark.parametrize("directory", KUSTOMIZATIONS)
def test_built_in_objects_match_the_kubernetes_api_types(directory: str) -> None:
    found = {}
    for obj in render(directory):
        if obj["apiVersion"].split("/")[0] in (CERT_MANAGER_GROUP, "metal3.io"):
            continue  # custom kinds: checked against their CRDs elsewhere
        found[f"{obj['kind']}/{obj['metadata']['name']}"] = openapi.problems(obj)
    assert {name: p for name, p in found.items() if p} == {}


def test_default_holds_the_go_operators_objects(default: list[dict[str, Any]]) -> None:
    got = {(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in default}
    assert got == {
        ("Namespace", NAMESPACE, None),
        ("CustomResourceDefinition", "baremetalhosts.metal3.io", None),
        ("CustomResourceDefinition", "hardwaredata.metal3.io", None),
        ("CustomResourceDefinition", "hostfirmwaresettings.metal3.io", None),
        ("CustomResourceDefinition", "firmwareschemas.metal3.io", None),
        ("CustomResourceDefinition", "hostfirmwarecomponents.metal3.io", None),
        ("CustomResourceDefinition", "hostupdatepolicies.metal3.io", None),
        ("CustomResourceDefinition", "preprovisioningimages.metal3.io", None),
        ("CustomResourceDefinition", "dataimages.metal3.io", None),
        ("CustomResourceDefinition", "bmceventsubscriptions.metal3.io", None),
        ("ServiceAccount", f"{PREFIX}controller-manager", NAMESPACE),
        ("ClusterRole", f"{PREFIX}manager-role", None),
        ("ClusterRoleBinding", f"{PREFIX}manager-rolebinding", None),
        ("ClusterRole", f"{PREFIX}metrics-auth-role", None),
        ("ClusterRoleBinding", f"{PREFIX}metrics-auth-rolebinding", None),
        ("ClusterRole", f"{PREFIX}metrics-reader", None),
        ("Role", f"{PREFIX}leader-election-role", NAMESPACE),
        ("RoleBinding", f"{PREFIX}leader-election-rolebinding", NAMESPACE),
        ("ConfigMap", f"{PREFIX}ironic", NAMESPACE),
        ("Deployment", f"{PREFIX}controller-manager", NAMESPACE),
        ("Service", f"{PREFIX}webhook-service", NAMESPACE),
        ("ValidatingWebhookConfiguration", f"{PREFIX}validating-webhook-configuration", None),
        ("Issuer", f"{PREFIX}selfsigned-issuer", NAMESPACE),
        ("Certificate", f"{PREFIX}serving-cert", NAMESPACE),
    }


def test_bindings_name_the_rendered_service_account(default: list[dict[str, Any]]) -> None:
    account = find(default, "ServiceAccount")["metadata"]
    bindings = [o for o in default if o["kind"] in ("ClusterRoleBinding", "RoleBinding")]
    assert len(bindings) == 3
    for binding in bindings:
        [subject] = binding["subjects"]
        assert (subject["name"], subject["namespace"]) == (account["name"], account["namespace"])


# --- the manager Deployment ----------------------------------------------------------------


def test_deployment_security_settings(manager: dict[str, Any]) -> None:
    pod = manager["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container(manager)["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 65532
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    mounts = {m["mountPath"]: m["name"] for m in container(manager)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_deployment_shape(manager: dict[str, Any]) -> None:
    assert manager["spec"]["replicas"] == 1
    pod = manager["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == f"{PREFIX}controller-manager"
    c = container(manager)
    assert c["image"] == "quay.io/metal3-io/bmo:latest"
    assert "--enable-leader-election" in c["args"]
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in c["env"]}
    assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    assert c["envFrom"] == [{"configMapRef": {"name": f"{PREFIX}ironic"}}]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"https": 8443, "health": 9440, "webhook-server": 9443}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 9440}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 9440}
    assert set(c["resources"]) == {"requests", "limits"}


def test_manager_arguments_are_accepted_by_bmo(manager: dict[str, Any]) -> None:
    c = container(manager)
    assert c["command"] == ["bmo", "run"]
    env = {"POD_NAMESPACE": NAMESPACE, "IRONIC_ENDPOINT": "http://127.0.0.1:6385/v1/"}
    settings = load_settings(c["args"], env)
    assert settings.leader_election.enabled is True
    assert settings.leader_election.namespace == NAMESPACE
    assert settings.webhook is not None and settings.webhook.port == 9443
    assert settings.manager.health_addr.port == 9440
    metrics_addr = settings.manager.metrics_addr
    assert metrics_addr is not None and metrics_addr.port == 8443
    assert settings.manager.metrics_secure, "metrics off loopback must be HTTPS with authn"


def test_ironic_configmap_is_read_by_bmo(default: list[dict[str, Any]]) -> None:
    data = find(default, "ConfigMap", f"{PREFIX}ironic")["data"]
    config = IronicConfig.from_env(data)
    assert config.deploy_kernel_url and config.deploy_ramdisk_url


def test_image_is_overridable_by_name(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    base = Path(__file__).resolve().parents[2] / "config" / "default"
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        f"resources:\n  - {os.path.relpath(base, overlay)}\n"
        "images:\n  - name: quay.io/metal3-io/bmo\n"
        "    newName: registry.example/bmo\n    newTag: v9\n"
    )
    deployment = find(render(overlay), "Deployment", f"{PREFIX}controller-manager")
    assert container(deployment)["image"] == "registry.example/bmo:v9"


# --- webhook wiring ------------------------------------------------------------------------


def test_webhook_configuration_matches_the_server(
    default: list[dict[str, Any]], manager: dict[str, Any]
) -> None:
    vwc = find(default, "ValidatingWebhookConfiguration")
    hooks = vwc["webhooks"]
    # One entry per path the server answers, named and scoped as upstream's.
    expected = [
        (path, f"{kind.lower()}.metal3.io", f"{kind.lower()}s")
        for path, kind in WEBHOOK_PATHS.items()
    ] + [
        (
            HOSTFIRMWARECOMPONENTS_PATH,
            "hostfirmwarecomponents.metal3.io",
            "hostfirmwarecomponents",
        ),
        (HOSTFIRMWARESETTINGS_PATH, "hostfirmwaresettings.metal3.io", "hostfirmwaresettings"),
    ]
    assert [hook["clientConfig"]["service"]["path"] for hook in hooks] == [
        p for p, _, _ in expected
    ]
    for hook, (_, name, resource) in zip(hooks, expected, strict=True):
        assert hook["name"] == name
        assert hook["failurePolicy"] == "Fail"
        assert hook["sideEffects"] == "None"
        assert hook["admissionReviewVersions"] == ["v1"]
        [rule] = hook["rules"]
        assert rule["apiGroups"] == ["metal3.io"]
        assert rule["apiVersions"] == ["v1alpha1"]
        assert sorted(rule["operations"]) == ["CREATE", "UPDATE"]
        assert rule["resources"] == [resource]
        assert hook["clientConfig"]["service"] == hooks[0]["clientConfig"]["service"] | {
            "path": hook["clientConfig"]["service"]["path"]
        }
    service_ref = hooks[0]["clientConfig"]["service"]
    service = find(default, "Service", service_ref["name"])
    assert service["metadata"]["namespace"] == service_ref["namespace"] == NAMESPACE
    [port] = service["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (443, 9443)
    pod_labels = manager["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_serving_certificate_is_wired_end_to_end(
    default: list[dict[str, Any]], manager: dict[str, Any]
) -> None:
    cert = find(default, "Certificate")
    issuer = find(default, "Issuer")
    service = find(default, "Service", f"{PREFIX}webhook-service")
    vwc = find(default, "ValidatingWebhookConfiguration")
    assert cert["apiVersion"] == issuer["apiVersion"] == "cert-manager.io/v1"
    assert issuer["spec"] == {"selfSigned": {}}
    assert cert["spec"]["issuerRef"] == {"kind": "Issuer", "name": issuer["metadata"]["name"]}
    assert cert["spec"]["secretName"] == "bmo-webhook-server-cert"
    host = f"{service['metadata']['name']}.{NAMESPACE}.svc"
    assert cert["spec"]["dnsNames"] == [host, f"{host}.cluster.local"]
    assert vwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == (
        f"{NAMESPACE}/{cert['metadata']['name']}"
    )
    mounts = {m["name"]: m for m in container(manager)["volumeMounts"]}
    volumes = {v["name"]: v for v in manager["spec"]["template"]["spec"]["volumes"]}
    [cert_volume] = [v for v in volumes.values() if "secret" in v]
    assert cert_volume["secret"]["secretName"] == cert["spec"]["secretName"]
    assert mounts[cert_volume["name"]]["mountPath"] == DEFAULT_CERT_DIR
    assert mounts[cert_volume["name"]]["readOnly"] is True


def test_webhook_flag_defaults_match_the_mount() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert from_args(parser.parse_args([]), port=9443).cert_dir == DEFAULT_CERT_DIR


# --- samples and the Ironic overlay --------------------------------------------------------


def test_sample_host_passes_schema_and_webhook() -> None:
    objects = render("samples")
    host = find(objects, "BareMetalHost")
    secret = find(objects, "Secret")
    assert validate_manifest(host) == []
    parsed = BareMetalHost.from_dict({**host, "metadata": {**host["metadata"], "namespace": "x"}})
    assert validate_create(parsed) == []
    assert host["spec"]["bmc"]["credentialsName"] == secret["metadata"]["name"]
    assert host["spec"]["bmc"]["address"].startswith("redfish-virtualmedia://192.0.2.")


def test_ironic_overlay_points_bmo_at_the_ironic_service() -> None:
    objects = render("ironic")
    ironic_service = find(objects, "Service", "ironic")
    ironic = find(objects, "Deployment", "ironic")
    data = find(objects, "ConfigMap", f"{PREFIX}ironic")["data"]
    namespace = ironic_service["metadata"]["namespace"]
    assert namespace == ironic["metadata"]["namespace"] == NAMESPACE
    ports = {p["name"]: p["port"] for p in ironic_service["spec"]["ports"]}
    assert data["IRONIC_ENDPOINT"] == f"http://ironic.{namespace}.svc:{ports['api']}/v1/"
    assert data["DEPLOY_KERNEL_URL"].startswith(f"http://ironic.{namespace}.svc:{ports['http']}/")
    assert ironic_service["spec"]["selector"].items() <= (
        ironic["spec"]["template"]["metadata"]["labels"].items()
    )
    images = [c["image"] for c in ironic["spec"]["template"]["spec"]["containers"]]
    assert all(image.startswith("quay.io/metal3-io/ironic") for image in images)
    IronicConfig.from_env(data)


# --- metrics and network policies -----------------------------------------------------------

CONFIG = Path(__file__).resolve().parents[2] / "config"


def _yaml(path: Path) -> dict[str, Any]:
    import yaml

    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    return doc


def test_metrics_are_scraped_over_https_with_a_token(
    default: list[dict[str, Any]], manager: dict[str, Any]
) -> None:
    """upstream: metrics on :8443 behind TokenReview/SubjectAccessReview, a metrics-reader
    ClusterRole, a ServiceMonitor sending its bearer token over TLS."""
    ports = {p["name"]: p["containerPort"] for p in container(manager)["ports"]}
    service = _yaml(CONFIG / "prometheus" / "metrics_service.yaml")
    [port] = service["spec"]["ports"]
    assert port["targetPort"] == ports["https"] == 8443
    [endpoint] = _yaml(CONFIG / "prometheus" / "monitor.yaml")["spec"]["endpoints"]
    assert endpoint["scheme"] == "https" and endpoint["port"] == port["name"]
    assert endpoint["bearerTokenFile"].endswith("serviceaccount/token")
    reader = find(default, "ClusterRole", f"{PREFIX}metrics-reader")
    assert reader["rules"] == [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
    auth = find(default, "ClusterRole", f"{PREFIX}metrics-auth-role")
    granted = {
        (r["apiGroups"][0], res, v)
        for r in auth["rules"]
        for res in r["resources"]
        for v in r["verbs"]
    }
    assert granted == {
        ("authentication.k8s.io", "tokenreviews", "create"),
        ("authorization.k8s.io", "subjectaccessreviews", "create"),
    }
    binding = find(default, "ClusterRoleBinding", f"{PREFIX}metrics-auth-rolebinding")
    assert binding["roleRef"]["name"] == f"{PREFIX}metrics-auth-role"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": f"{PREFIX}controller-manager", "namespace": NAMESPACE}
    ]


def test_network_policies_admit_only_what_each_port_needs(manager: dict[str, Any]) -> None:
    policies = {p["metadata"]["name"]: p for p in render("network-policy")}
    labels = manager["spec"]["template"]["metadata"]["labels"]
    ports = {p["name"]: p["containerPort"] for p in container(manager)["ports"]}
    for policy in policies.values():
        selector = policy["spec"]["podSelector"]["matchLabels"]
        assert selector.items() <= labels.items(), policy["metadata"]["name"]
        assert policy["spec"]["policyTypes"] == ["Ingress"]

    def rule(name: str) -> dict[str, Any]:
        [only] = policies[name]["spec"]["ingress"]
        return only

    webhook = rule("allow-webhook-traffic")
    assert [p["port"] for p in webhook["ports"]] == [ports["webhook-server"]]
    assert [list(f) for f in webhook["from"]] == [["ipBlock"]], "the API server only"
    metrics = rule("allow-metrics-traffic")
    assert [p["port"] for p in metrics["ports"]] == [ports["https"]]
    assert metrics["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    probes = rule("allow-probe-traffic")
    assert [p["port"] for p in probes["ports"]] == [ports["health"]]


def test_grace_period_covers_the_drain_and_the_lease_release(manager: dict[str, Any]) -> None:
    """A SIGKILL mid-shutdown would skip releasing the Lease (the successor then waits a
    whole lease duration): the pod's grace period must cover the manager's drain plus the
    release call, which the renew deadline bounds."""
    from bmo.runtime.settings import DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT, DEFAULT_RENEW_DEADLINE

    grace = manager["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace >= DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT + DEFAULT_RENEW_DEADLINE + 2
