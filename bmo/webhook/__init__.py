"""The validating admission webhooks for BareMetalHosts, DataImages, BMCEventSubscriptions
and the firmware kinds.

Mirrors ``internal/webhooks/metal3.io/v1alpha1/baremetalhost_webhook.go``,
``dataimage_webhook.go``, ``bmceventsubscription_webhook.go`` and
``hostfirmwarecomponents_webhook.go`` (``ValidateCreate``, ``ValidateUpdate``,
``ValidateDelete``); a HostFirmwareSettings path checks ``spec.settings`` against the host's
FirmwareSchema, looked up through a callback the operator injects
(:mod:`bmo.webhook.firmware`); a new BMCEventSubscription is checked against the host it
names through another (:data:`~bmo.webhook.config.HostLookup`).

One HTTPS server answering ``admission.k8s.io/v1`` AdmissionReviews at
``/validate-metal3-io-v1alpha1-baremetalhost``, ``...-dataimage``,
``...-bmceventsubscription``, ``...-hostfirmwarecomponents`` and ``...-hostfirmwaresettings``
with the rules of :mod:`bmo.api` and the Go operator's
messages. Wiring into the manager::

    server = WebhookServer(WebhookConfig(port=..., cert_dir=..., allow_development=...))
    server.start()
    manager.add_ready_check("webhook", server.ready)
    try: manager.run(stop)
    finally: server.stop()
"""

from bmo.webhook.admission import (
    AdmissionRequest,
    Decision,
    GroupVersionKind,
    aggregate,
    decide,
    parse_review,
    review_response,
)
from bmo.webhook.certs import CertificateReloader
from bmo.webhook.config import (
    BAREMETALHOST_PATH,
    BMCEVENTSUBSCRIPTION_PATH,
    DATAIMAGE_PATH,
    DEFAULT_CERT_DIR,
    DEFAULT_PORT,
    TLS_VERSIONS,
    WEBHOOK_PATHS,
    HostLookup,
    WebhookConfig,
    add_arguments,
    from_args,
    parse_tls_version,
)
from bmo.webhook.errors import (
    CertificateError,
    MalformedReviewError,
    ServerStartError,
    WebhookConfigError,
    WebhookError,
)
from bmo.webhook.firmware import (
    HOSTFIRMWARECOMPONENTS_PATH,
    HOSTFIRMWARESETTINGS_PATH,
    SchemaLookup,
    decide_components,
    decide_settings,
)
from bmo.webhook.server import WebhookServer

__all__ = [
    "BAREMETALHOST_PATH",
    "BMCEVENTSUBSCRIPTION_PATH",
    "DATAIMAGE_PATH",
    "DEFAULT_CERT_DIR",
    "DEFAULT_PORT",
    "HOSTFIRMWARECOMPONENTS_PATH",
    "HOSTFIRMWARESETTINGS_PATH",
    "TLS_VERSIONS",
    "WEBHOOK_PATHS",
    "AdmissionRequest",
    "CertificateError",
    "CertificateReloader",
    "Decision",
    "GroupVersionKind",
    "HostLookup",
    "MalformedReviewError",
    "SchemaLookup",
    "ServerStartError",
    "WebhookConfig",
    "WebhookConfigError",
    "WebhookError",
    "WebhookServer",
    "add_arguments",
    "aggregate",
    "decide",
    "decide_components",
    "decide_settings",
    "from_args",
    "parse_review",
    "parse_tls_version",
    "review_response",
]
