"""What the emulator serves: built-in resource types and those CustomResourceDefinitions add."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

Obj = dict[str, Any]
Key = tuple[str, str]  # (group, plural)

CRD_KEY: Key = ("apiextensions.k8s.io", "customresourcedefinitions")
NS_KEY: Key = ("", "namespaces")
SECRET_KEY: Key = ("", "secrets")


@dataclass
class ResourceType:
    """One served resource (all its versions share one storage; no conversion beyond apiVersion)."""

    group: str
    versions: list[str]  # served versions, preferred first
    storage_version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    list_kind: str = ""
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    status_subresource: bool = False
    has_generation: bool = False
    # version -> openAPIV3Schema (None: stored without schema checks)
    schemas: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    # version -> additionalPrinterColumns of the CRD (built-ins use builtin_columns)
    printer_columns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    crd_name: str | None = None  # set for custom resources
    name_rule: str = "subdomain"  # subdomain | label | path
    delete_returns_object: bool = False
    builtin_columns: list[tuple[str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.list_kind:
            self.list_kind = self.kind + "List"

    @property
    def key(self) -> Key:
        return (self.group, self.plural)

    @property
    def group_resource(self) -> str:
        """``baremetalhosts.metal3.io`` / ``secrets``: how error messages name the resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    @property
    def is_custom(self) -> bool:
        return self.crd_name is not None


def _builtin(
    group: str,
    version: str,
    plural: str,
    kind: str,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    **kw: Any,
) -> ResourceType:
    singular = kw.pop("singular", kind.lower())
    return ResourceType(
        group=group,
        versions=[version],
        storage_version=version,
        plural=plural,
        singular=singular,
        kind=kind,
        namespaced=namespaced,
        short_names=list(short),
        categories=list(categories),
        schemas={version: None},
        **kw,
    )


def builtin_types() -> list[ResourceType]:
    """Built-ins are stored as given: only apiVersion, kind and metadata are checked."""
    rbac = "rbac.authorization.k8s.io"
    return [
        _builtin(
            "",
            "v1",
            "namespaces",
            "Namespace",
            namespaced=False,
            short=("ns",),
            status_subresource=True,
            name_rule="label",
            delete_returns_object=True,
            builtin_columns=[("Status", "string", ".status.phase")],
        ),
        _builtin(
            "",
            "v1",
            "secrets",
            "Secret",
            builtin_columns=[("Type", "string", ".type"), ("Data", "integer", "#data")],
        ),
        _builtin(
            "",
            "v1",
            "configmaps",
            "ConfigMap",
            short=("cm",),
            builtin_columns=[("Data", "integer", "#data")],
        ),
        _builtin(
            "",
            "v1",
            "events",
            "Event",
            short=("ev",),
            builtin_columns=[
                ("Type", "string", ".type"),
                ("Reason", "string", ".reason"),
                ("Object", "string", "#involved"),
                ("Message", "string", ".message"),
            ],
        ),
        _builtin("", "v1", "serviceaccounts", "ServiceAccount", short=("sa",)),
        _builtin(
            "",
            "v1",
            "services",
            "Service",
            short=("svc",),
            categories=("all",),
            status_subresource=True,
            name_rule="label",
            builtin_columns=[
                ("Type", "string", ".spec.type"),
                ("Cluster-IP", "string", ".spec.clusterIP"),
            ],
        ),
        _builtin(
            "apps",
            "v1",
            "deployments",
            "Deployment",
            short=("deploy",),
            categories=("all",),
            status_subresource=True,
            has_generation=True,
            builtin_columns=[("Replicas", "integer", ".spec.replicas")],
        ),
        _builtin(
            "coordination.k8s.io",
            "v1",
            "leases",
            "Lease",
            builtin_columns=[("Holder", "string", ".spec.holderIdentity")],
        ),
        _builtin("events.k8s.io", "v1", "events", "Event", short=("ev",)),
        _builtin(rbac, "v1", "roles", "Role", name_rule="path"),
        _builtin(rbac, "v1", "clusterroles", "ClusterRole", namespaced=False, name_rule="path"),
        _builtin(rbac, "v1", "rolebindings", "RoleBinding", name_rule="path"),
        _builtin(
            rbac,
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            namespaced=False,
            name_rule="path",
        ),
        _builtin(
            "admissionregistration.k8s.io",
            "v1",
            "validatingwebhookconfigurations",
            "ValidatingWebhookConfiguration",
            namespaced=False,
        ),
        _builtin(
            "admissionregistration.k8s.io",
            "v1",
            "mutatingwebhookconfigurations",
            "MutatingWebhookConfiguration",
            namespaced=False,
        ),
        _builtin(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            namespaced=False,
            short=("crd", "crds"),
            categories=("api-extensions",),
            status_subresource=True,
            has_generation=True,
            delete_returns_object=True,
        ),
    ]


def crd_to_type(crd: dict[str, Any]) -> ResourceType:
    """Build the served type of an (already validated) CustomResourceDefinition."""
    spec = crd["spec"]
    names = spec["names"]
    served = [v for v in spec["versions"] if v.get("served", True)]
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    return ResourceType(
        group=spec["group"],
        versions=[v["name"] for v in served],
        storage_version=storage,
        plural=names["plural"],
        singular=names.get("singular") or names["kind"].lower(),
        kind=names["kind"],
        list_kind=names.get("listKind") or names["kind"] + "List",
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        short_names=list(names.get("shortNames") or []),
        categories=list(names.get("categories") or []),
        status_subresource=any("status" in (v.get("subresources") or {}) for v in served),
        has_generation=True,
        schemas={v["name"]: (v.get("schema") or {}).get("openAPIV3Schema") for v in served},
        printer_columns={v["name"]: list(v.get("additionalPrinterColumns") or []) for v in served},
        crd_name=crd["metadata"]["name"],
        delete_returns_object=True,
    )
