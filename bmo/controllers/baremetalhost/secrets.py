"""The Secrets a BareMetalHost uses: finding them, claiming them, reading them.

The manager only caches Secrets labelled ``environment.metal3.io=baremetal`` (upstream
``main.go`` restricts its cache so), so a Secret the user just created is not in the cache
yet: look there first, then ask the API server, as upstream
``pkg/secretutils/secret_manager.go`` ``ObtainSecret`` does. Using a Secret *claims* it -
the label (so its changes reach the cache and, through the owner reference, wake the host),
a non-controller owner reference to the host for the BMC credentials, and for Secrets that
must outlive the reconcile the ``baremetalhost.metal3.io/secret`` finalizer, released when
the host goes away.

Nothing here logs or raises Secret contents: exceptions carry the upstream messages, which
name the Secret, never its data.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

import structlog
from kubernetes import client as k8s

from bmo.api.bmc import BMCAddressError, BMCError, Credentials, access_details
from bmo.api.constants import (
    BMH_KIND,
    GROUP_VERSION,
    SECRET_ENVIRONMENT_LABEL,
    SECRET_ENVIRONMENT_VALUE,
    SECRET_FINALIZER,
)
from bmo.api.host import BareMetalHost
from bmo.api.meta import SecretReference
from bmo.api.secretpolicy import CredentialsSecretPolicy
from bmo.controllers.baremetalhost import metrics
from bmo.hoststate.actions import Metrics, MetricSample
from bmo.hoststate.run import SecretVersion
from bmo.provisioner import ProvisionerError
from bmo.runtime.cache import KubeObject, resource_version, thaw
from bmo.runtime.errors import KubeError, NotFound, Unreachable, kube_errors
from bmo.runtime.jsonapi import JsonApi, core_path

__all__ = [
    "BMCCredentialsError",
    "CredentialsInvalid",
    "CredentialsSecretMissing",
    "HostConfigDataError",
    "HostConfigSecrets",
    "SecretManager",
    "SecretStore",
    "load_bmc_credentials",
    "load_preprovisioning_network_data",
]

log = structlog.get_logger(__name__)

_VALUE_KEY: Final = "value"

MAX_CREDENTIAL_BYTES: Final = 4096
"""A BMC username or password longer than this is a mistake (a certificate, a whole file),
not a credential; it is refused before it reaches Ironic, the logs or a BMC."""


class SecretStore(Protocol):
    """The labelled-Secret informer cache (``Informer`` fits)."""

    def get(self, key: str) -> KubeObject | None: ...


class BMCCredentialsError(Exception):
    """The host's BMC details or credentials cannot be used; ``str()`` is upstream's message,
    recorded as a ``registration error`` on the host and in a ``BMCCredentialError`` event."""


class CredentialsSecretMissing(BMCCredentialsError):
    """The Secret named by ``spec.bmc.credentialsName`` does not exist (yet): poll for it,
    since an unlabelled new Secret is not watched."""


class CredentialsInvalid(BMCCredentialsError):
    """No Secret named, no address, an unusable address, or credentials lacking a value:
    only a change to the host or the (now watched) Secret can fix it, so no requeue."""


class HostConfigDataError(ProvisionerError):
    """A user/network/meta data Secret is missing, elsewhere, or lacks its key.

    A :class:`ProvisionerError` so the state machine treats it like any other failure to
    provision this pass (transient: retried through the work queue), as upstream does.
    """


def _owner_reference(host: BareMetalHost) -> dict[str, Any]:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": BMH_KIND,
        "name": host.name,
        "uid": host.metadata.uid,
    }


def secret_value(secret: KubeObject, key: str) -> str | None:
    """The decoded ``data[key]`` (``None`` when absent); undecodable bytes become U+FFFD."""
    data = secret.get("data") or {}
    raw = data.get(key)
    if raw is None:
        return None
    try:
        decoded = base64.b64decode(str(raw), validate=False)
    except (binascii.Error, ValueError):
        return ""
    return decoded.decode("utf-8", errors="replace")


class SecretManager:
    """Finds and claims Secrets (upstream ``pkg/secretutils/secret_manager.go``
    ``SecretManager``). API failures raise :class:`~bmo.runtime.errors.KubeError`.

    Round trips are what limits a fleet's registration at the default API budget, so:

    * the Secret a claim wrote is remembered (:class:`_WrittenSecrets`) until the label
      brings it into the cache, instead of being read back with a GET by the next step;
    * a Secret the cache does not hold (not labelled yet, so not watched) is claimed with
      one strategic merge patch - labels, owner reference (merged by ``uid``) and finalizer
      (merged as a set) - instead of a GET and a PUT. The server applies it to the stored
      object, so nothing anyone else wrote is lost; the result is the object upstream's
      read-modify-write leaves.
    """

    def __init__(self, api_client: k8s.ApiClient, store: SecretStore) -> None:
        self._json = JsonApi(api_client)
        self._store = store
        self._written = _WrittenSecrets()

    def _known(self, namespace: str, name: str) -> KubeObject | None:
        key = f"{namespace}/{name}"
        return self._written.freshest(key, self._store.get(key))

    def obtain(self, namespace: str, name: str) -> KubeObject:
        """The Secret from the cache, else from the API; raises
        :class:`~bmo.runtime.errors.NotFound` when it does not exist."""
        known = self._known(namespace, name)
        if known is not None:
            return known
        with kube_errors():
            # ``read_namespaced_secret``'s request, thin (``bmo.runtime.jsonapi``).
            obj: dict[str, Any] = self._json.get(core_path("secrets", namespace, name))
        return obj

    def acquire(
        self,
        namespace: str,
        name: str,
        *,
        owner: BareMetalHost | None,
        add_finalizer: bool,
    ) -> KubeObject:
        """Obtain and claim: label, owner reference (never a controller one), finalizer
        (upstream ``AcquireSecret``)."""
        secret = self._known(namespace, name)
        if secret is None:
            secret = self._claim_unseen(namespace, name, owner=owner, add_finalizer=add_finalizer)
        meta = _claim(secret.get("metadata") or {}, owner, add_finalizer)
        if meta is None:
            return secret  # the common case, every pass: nothing copied
        body = thaw(secret)
        body["metadata"] = meta
        return self._replace(namespace, name, body)

    def _claim_unseen(
        self, namespace: str, name: str, *, owner: BareMetalHost | None, add_finalizer: bool
    ) -> KubeObject:
        """Claim a Secret the cache does not hold with one strategic merge patch; returns
        the patched Secret (raises :class:`~bmo.runtime.errors.NotFound` when absent)."""
        meta: dict[str, Any] = {
            "labels": {SECRET_ENVIRONMENT_LABEL: SECRET_ENVIRONMENT_VALUE},
        }
        if owner is not None:
            meta["ownerReferences"] = [_owner_reference(owner)]
            meta["$setElementOrder/ownerReferences"] = [{"uid": owner.metadata.uid}]
        if add_finalizer:
            meta["finalizers"] = [SECRET_FINALIZER]
            meta["$setElementOrder/finalizers"] = [SECRET_FINALIZER]
        with kube_errors():
            # ``patch_namespaced_secret``'s request, thin (``bmo.runtime.jsonapi``).
            patched: dict[str, Any] = self._json.patch(
                core_path("secrets", namespace, name),
                {"metadata": meta},
                "application/strategic-merge-patch+json",
            )
        self._written.remember(f"{namespace}/{name}", patched)
        return patched

    def release(self, namespace: str, name: str) -> None:
        """Drop the Secret finalizer so the Secret can go with its host (upstream
        ``ReleaseSecret``; a Secret already gone is fine)."""
        try:
            secret = self.obtain(namespace, name)
        except NotFound:
            return
        finalizers = list((secret.get("metadata") or {}).get("finalizers") or [])
        if SECRET_FINALIZER not in finalizers:
            return
        body = thaw(secret)
        body["metadata"]["finalizers"] = [f for f in finalizers if f != SECRET_FINALIZER]
        with contextlib.suppress(NotFound):
            self._replace(namespace, name, body)
        log.info("released secret", secret=f"{namespace}/{name}")

    def _replace(self, namespace: str, name: str, body: dict[str, Any]) -> KubeObject:
        # A plain dict body keeps fields the client's models do not know;
        # ``replace_namespaced_secret``'s request, thin (``bmo.runtime.jsonapi``).
        with kube_errors():
            updated: dict[str, Any] = self._json.put(core_path("secrets", namespace, name), body)
        self._written.remember(f"{namespace}/{name}", updated)
        return updated


class _WrittenSecrets:
    """The Secret each claim last wrote, until the cache shows it (the label makes the
    informer list it a watch event later). Entries the cache never catches up with (a
    Secret deleted meanwhile) expire after ``ttl`` seconds, so a gone Secret is not served
    from memory. Thread-safe."""

    def __init__(self, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._objects: dict[str, tuple[float, KubeObject]] = {}

    def remember(self, key: str, obj: KubeObject) -> None:
        with self._lock:
            self._objects[key] = (self._clock(), obj)

    def freshest(self, key: str, cached: KubeObject | None) -> KubeObject | None:
        with self._lock:
            memo = self._objects.get(key)
            if memo is None:
                return cached
            stamp, obj = memo
            expired = self._clock() - stamp > self._ttl
            if expired or (cached is not None and _caught_up(cached, obj)):
                del self._objects[key]
                return cached
            return obj


def _caught_up(cached: KubeObject, written: KubeObject) -> bool:
    """Whether the cache shows our write or something after it rather than the version the
    write replaced: the same resourceVersion, or every label, finalizer and owner our write
    left (resourceVersions are opaque, so they are only compared for equality)."""
    if resource_version(cached) == resource_version(written):
        return True
    have: dict[str, Any] = dict(cached.get("metadata") or {})
    want: dict[str, Any] = dict(written.get("metadata") or {})
    labels = have.get("labels") or {}
    if any(labels.get(k) != v for k, v in (want.get("labels") or {}).items()):
        return False
    if not set(want.get("finalizers") or ()) <= set(have.get("finalizers") or ()):
        return False
    owners = {str(r.get("uid")) for r in have.get("ownerReferences") or ()}
    return {str(r.get("uid")) for r in want.get("ownerReferences") or ()} <= owners


def _claim(
    meta: Mapping[str, Any], owner: BareMetalHost | None, add_finalizer: bool
) -> dict[str, Any] | None:
    """``meta`` claimed (labelled, owned by ``owner`` never as controller, finalized when
    asked), or ``None`` when it already is: a pass that finds the Secret claimed, as every
    pass after the first does, copies nothing."""
    changes: dict[str, Any] = {}
    labels = meta.get("labels") or {}
    if labels.get(SECRET_ENVIRONMENT_LABEL) != SECRET_ENVIRONMENT_VALUE:
        changes["labels"] = {**labels, SECRET_ENVIRONMENT_LABEL: SECRET_ENVIRONMENT_VALUE}
    if owner is not None:
        refs = [dict(ref) for ref in meta.get("ownerReferences") or ()]
        mine = [ref for ref in refs if ref.get("uid") == owner.metadata.uid]
        if not mine:
            changes["ownerReferences"] = [*refs, _owner_reference(owner)]
        elif mine[0].get("controller"):
            # Older releases made the host the controller; that is no longer true.
            mine[0].pop("controller", None)
            changes["ownerReferences"] = refs
    finalizers = list(meta.get("finalizers") or ())
    if add_finalizer and SECRET_FINALIZER not in finalizers:
        changes["finalizers"] = [*finalizers, SECRET_FINALIZER]
    if not changes:
        return None
    return {**thaw(meta), **changes}


def credential_value(secret: KubeObject, namespace: str, name: str, key: str) -> str:
    """``data[key]`` of the credentials Secret as text (``""`` when absent).

    Raises :class:`CredentialsInvalid` naming the Secret and the key - never the value - when
    it is not UTF-8 (read leniently it would become a different password, sent to the BMC)
    or longer than :data:`MAX_CREDENTIAL_BYTES`.
    """
    raw = (secret.get("data") or {}).get(key)
    if raw is None:
        return ""
    try:
        decoded = base64.b64decode(str(raw), validate=False)
    except (binascii.Error, ValueError):
        return ""
    where = f"BMC secret {namespace}/{name} key {key}"
    if len(decoded) > MAX_CREDENTIAL_BYTES:
        raise CredentialsInvalid(
            f"{where} is {len(decoded)} bytes, more than the {MAX_CREDENTIAL_BYTES} a BMC "
            "credential may have: store only the BMC's username and password in it"
        )
    try:
        return decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise CredentialsInvalid(
            f"{where} is not UTF-8 text: re-create the Secret with the credential as UTF-8"
        ) from None


def load_bmc_credentials(
    secrets: SecretManager,
    host: BareMetalHost,
    *,
    allow_development: bool,
    add_finalizer: bool,
    policy: CredentialsSecretPolicy | None = None,
) -> tuple[Credentials, SecretVersion]:
    """Claim and read the BMC credentials Secret, validating the host's BMC details.

    Upstream ``baremetalhost_controller.go`` ``buildAndValidateBMCCredentials``, with its
    checks in its order and its messages. Raises :class:`BMCCredentialsError`; API failures
    other than a missing Secret propagate as :class:`~bmo.runtime.errors.KubeError`.

    With a credentials ``policy`` (bmo's own, see :mod:`bmo.api.secretpolicy`) a Secret
    lacking its label is refused *before* it is claimed: bmo neither labels, owns nor
    finalizes a Secret it may not use.
    """
    name = host.spec.bmc.credentials_name
    if not name:
        raise CredentialsInvalid("No BMC CredentialsName defined The BMC secret reference is empty")
    try:
        if policy is not None and policy.enabled:
            found = secrets.obtain(host.namespace, name)
            refused = policy.problem(
                host.namespace, name, (found.get("metadata") or {}).get("labels")
            )
            if refused is not None:
                raise CredentialsInvalid(refused)
        secret = secrets.acquire(host.namespace, name, owner=host, add_finalizer=add_finalizer)
    except NotFound:
        raise CredentialsSecretMissing(
            "BMC CredentialsName secret doesn't exist The BMC secret "
            f"{host.namespace}/{name} does not exist"
        ) from None
    address = host.spec.bmc.address
    if not address:
        raise CredentialsInvalid("Empty BMC address Missing BMC connection detail 'Address'")
    try:
        access_details(
            address,
            host.spec.bmc.disable_certificate_verification,
            allow_development=allow_development,
        )
    except (BMCAddressError, BMCError) as exc:
        raise CredentialsInvalid(str(exc)) from None
    credentials = Credentials(
        credential_value(secret, host.namespace, name, "username"),
        credential_value(secret, host.namespace, name, "password"),
    )
    try:
        credentials.validate()
    except BMCError as exc:
        raise CredentialsInvalid(str(exc)) from None
    meta = secret.get("metadata") or {}
    version = SecretVersion(
        name=name, namespace=host.namespace, resource_version=str(meta.get("resourceVersion", ""))
    )
    return credentials, version


def load_preprovisioning_network_data(
    secrets: SecretManager, host: BareMetalHost, *, add_finalizer: bool
) -> str:
    """Claim the ``preprovisioningNetworkDataName`` Secret (label, owner, finalizer) and
    read its ``networkData``: the ramdisk's network configuration. ``""`` when none is
    named; a named Secret that does not exist raises :class:`~bmo.runtime.errors.NotFound`."""
    name = host.spec.preprovisioning_network_data_name
    if not name:
        return ""
    secret = secrets.acquire(host.namespace, name, owner=host, add_finalizer=add_finalizer)
    return secret_value(secret, "networkData") or ""


class HostConfigSecrets:
    """User, network and meta data from the host's Secrets, read when the provisioner asks.

    Keys ``userData``/``networkData``/``metaData`` with ``value`` as the fallback; the Secret
    must be in the host's namespace. Each Secret read is labelled (so its changes are
    watched) but not owned, as upstream.
    """

    def __init__(self, secrets: SecretManager, host: BareMetalHost) -> None:
        self._secrets = secrets
        self._host = host

    def user_data(self) -> str | None:
        return self._read(self._host.spec.user_data, "userData")

    def network_data(self) -> str | None:
        ref = self._host.spec.network_data
        if ref is None and self._host.spec.preprovisioning_network_data_name:
            # The ramdisk's network configuration doubles as the instance's by default.
            ref = SecretReference(name=self._host.spec.preprovisioning_network_data_name)
        return self._read(ref, "networkData")

    def meta_data(self) -> str | None:
        return self._read(self._host.spec.meta_data, "metaData")

    def _read(self, ref: SecretReference | None, key: metrics.HostDataType) -> str | None:
        if ref is None or not ref.name:
            return None
        namespace = ref.namespace or self._host.namespace
        if namespace != self._host.namespace:
            metrics.apply(MetricSample(Metrics.HOST_CONFIG_DATA_ERROR, {"host_data_type": key}))
            raise HostConfigDataError(
                f"{key} secret must be in the same namespace as the host "
                f"{self._host.namespace}/{self._host.name}"
            )
        try:
            secret = self._secrets.acquire(namespace, ref.name, owner=None, add_finalizer=False)
        except NotFound:
            metrics.apply(MetricSample(Metrics.HOST_CONFIG_DATA_ERROR, {"host_data_type": key}))
            raise HostConfigDataError(
                f"{key} secret {namespace}/{ref.name} does not exist"
            ) from None
        except Unreachable:
            raise
        except KubeError as exc:
            raise HostConfigDataError(
                f"cannot read {key} secret {namespace}/{ref.name}: HTTP {exc.status}"
            ) from None
        value = _value_or_fallback(secret, key)
        if value is None:
            metrics.apply(MetricSample(Metrics.HOST_CONFIG_DATA_ERROR, {"host_data_type": key}))
            raise HostConfigDataError(f"Secret {ref.name} does not contain key {key}")
        return value


def _value_or_fallback(secret: Mapping[str, Any], key: str) -> str | None:
    value = secret_value(secret, key)
    if value is None:
        value = secret_value(secret, _VALUE_KEY)
    return value
