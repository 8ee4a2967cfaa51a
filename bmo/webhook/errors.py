"""The bmo.webhook exception tree: one root, precise subclasses.

Messages name files and flags, never certificate or key material, and never a field value
of the object under review (it may hold credentials).
"""

from __future__ import annotations


class WebhookError(Exception):
    """Root of every error raised by :mod:`bmo.webhook`."""


class WebhookConfigError(WebhookError, ValueError):
    """A webhook flag has a value the server cannot run with; the message names the flag
    and the accepted values."""


class CertificateError(WebhookError):
    """The serving certificate or key cannot be read or do not form a usable pair."""


class ServerStartError(WebhookError):
    """The server could not bind its port (in use, or not permitted)."""


class MalformedReviewError(WebhookError, ValueError):
    """A request body is not an ``admission.k8s.io`` ``AdmissionReview`` with a request.

    ``uid`` is the request's uid when it could be read, so the answer can still echo it.
    """

    def __init__(self, message: str, uid: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.uid = uid
