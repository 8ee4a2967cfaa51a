"""The pull credential of a private ``oci://`` image, read from the host's auth Secret.

The Kubernetes side of upstream ``internal/controller/metal3.io/baremetalhost_controller.go
getImageAuthSecret`` and ``image_auth_validator.go Validate``: the Secret named by
``spec.image.ociAuthSecretName`` is fetched (cache first, else one GET) and labelled so its
later changes reach the cache; :func:`bmo.api.imageauth.pull_secret` picks the registry's
entry. A bad Secret is a provisioning error with upstream's message plus, where upstream
records one, an ``ImageAuth*`` Warning event. Neither the messages nor the logs carry any
part of the Secret's data: only its name and type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from bmo.api.host import BareMetalHost
from bmo.api.imageauth import ImageAuthError, auth_secret_name, pull_secret, secret_not_found
from bmo.controllers.baremetalhost.secrets import SecretManager
from bmo.hoststate.actions import Event
from bmo.runtime.errors import NotFound

__all__ = ["ImagePullSecret", "resolve_pull_secret"]

log = structlog.get_logger(__name__)

_WARNING = "Warning"


@dataclass(frozen=True)
class ImagePullSecret:
    """``value`` for ``instance_info.image_pull_secret`` (``""``: none), or ``error``."""

    value: str = field(default="", repr=False)
    error: str = ""
    events: tuple[Event, ...] = ()


def resolve_pull_secret(secrets: SecretManager, host: BareMetalHost) -> ImagePullSecret:
    """The pull secret for ``host``'s image. Kubernetes failures other than a missing
    Secret raise :class:`bmo.runtime.errors.KubeError` (retried by the work queue)."""
    image = host.spec.image
    name = auth_secret_name(image)
    if image is None or name is None:
        return ImagePullSecret()
    try:
        secret = secrets.acquire(host.namespace, name, owner=None, add_finalizer=False)
    except NotFound:
        return ImagePullSecret(error=_failure(secret_not_found(name, host.namespace)))
    try:
        value = pull_secret(name, secret, image.url)
    except ImageAuthError as exc:
        log.info("image auth secret unusable", secret=name, reason=type(exc).__name__)
        events: tuple[Event, ...] = ()
        if exc.event_reason is not None and exc.event_message is not None:
            events = (Event(exc.event_reason, exc.event_message, _WARNING),)
        return ImagePullSecret(error=_failure(exc), events=events)
    return ImagePullSecret(value=value)


def _failure(exc: ImageAuthError) -> str:
    return f"failed to get image auth secret: {exc}"
