"""The serving certificate, re-read whenever cert-manager rotates it.

cert-manager renews the Secret; the kubelet swaps the mounted files atomically (a symlink
flip), so the files' identity (device, inode, size, mtime) changes. Every new connection
asks :meth:`CertificateReloader.context` for the TLS context; that costs two ``stat`` calls
and builds a new context only after a change. A pair that fails to load (a half-written
copy, a key that does not match) leaves the previous context serving and is logged once;
the next change is tried again.
"""

from __future__ import annotations

import os
import ssl
import threading
from pathlib import Path

import structlog

from bmo.tlspolicy import TLSPolicy
from bmo.webhook.errors import CertificateError

log = structlog.get_logger(__name__)

_Signature = tuple[tuple[int, int, int, int], ...]

ALPN_PROTOCOLS = ["http/1.1"]
"""The server speaks HTTP/1.1 only; saying so lets a Go client skip trying h2."""


class CertificateReloader:
    """Holds the current server-side :class:`ssl.SSLContext` for a certificate directory."""

    def __init__(
        self,
        cert_file: Path,
        key_file: Path,
        *,
        min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
        max_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3,
        policy: TLSPolicy | None = None,
    ) -> None:
        self.cert_file = cert_file
        self.policy = policy
        self.key_file = key_file
        self.min_version = min_version
        self.max_version = max_version
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        self._loaded: _Signature | None = None
        self._failed: _Signature | None = None
        self._missing_logged = False
        self.reloads = 0
        """How many times a certificate has been (re)loaded; 1 after the first load."""

    @property
    def loaded(self) -> bool:
        with self._lock:
            return self._context is not None

    def context(self) -> ssl.SSLContext | None:
        """The context for a new connection, reloading first if the files changed.

        ``None`` until a certificate has loaded at least once.
        """
        with self._lock:
            signature = self._signature()
            if signature is None:
                if not self._missing_logged and self._context is None:
                    log.warning(
                        "webhook serving certificate not found yet; not ready until it is",
                        cert_file=str(self.cert_file),
                        key_file=str(self.key_file),
                    )
                    self._missing_logged = True
                return self._context
            if signature not in (self._loaded, self._failed):
                self._reload(signature)
            return self._context

    def load(self) -> ssl.SSLContext:
        """Load now, raising :class:`CertificateError` when the pair is unusable."""
        with self._lock:
            signature = self._signature()
            context = self._build()
            self._install(context, signature)
            return context

    def _reload(self, signature: _Signature) -> None:
        try:
            context = self._build()
        except CertificateError as exc:
            self._failed = signature
            log.warning(
                "webhook serving certificate could not be loaded; keeping the previous one",
                error=str(exc),
                serving=self._context is not None,
            )
            return
        self._install(context, signature)

    def _install(self, context: ssl.SSLContext, signature: _Signature | None) -> None:
        first = self._context is None
        self._context = context
        self._loaded = signature
        self._failed = None
        self._missing_logged = False
        self.reloads += 1
        log.info(
            "webhook serving certificate loaded"
            if first
            else "webhook serving certificate reloaded",
            cert_file=str(self.cert_file),
        )

    def _signature(self) -> _Signature | None:
        try:
            stats = [os.stat(self.cert_file), os.stat(self.key_file)]
        except OSError:
            return None
        return tuple((s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns) for s in stats)

    def _build(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = self.min_version
        context.maximum_version = self.max_version
        if self.policy is not None:
            # Cipher suites and curve (-tls-cipher-suites, -tls-curve-preferences).
            self.policy.apply(context)
        context.set_alpn_protocols(ALPN_PROTOCOLS)
        try:
            context.load_cert_chain(self.cert_file, self.key_file)
        except FileNotFoundError as exc:
            raise CertificateError(
                f"webhook certificate file {exc.filename} does not exist: mount the serving "
                "certificate Secret there or pass --webhook-cert-dir"
            ) from None
        except OSError as exc:
            # ssl.SSLError is an OSError; its text names the OpenSSL failure, not the contents.
            reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
            raise CertificateError(
                f"webhook certificate {self.cert_file} / key {self.key_file} cannot be "
                f"used: {reason}"
            ) from None
        return context
