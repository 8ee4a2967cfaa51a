"""The openstacksdk connection to Ironic, built from :class:`IronicConfig` alone.

Mirrors upstream ``pkg/provisioner/ironic/clients/client.go`` (``IronicClient``: endpoint,
HTTP basic auth, TLS with an optional CA, client certificate and SAN check) and
``clients/auth.go``; no clouds.yaml and no ``OS_*`` variable can change what it connects to.
"""

from __future__ import annotations

import threading
from typing import Any

import structlog
from keystoneauth1.session import TCPKeepAliveAdapter
from openstack import connection as sdk_connection

from bmo.ironic.config import IronicConfig, plaintext_credentials_warning

__all__ = ["build_connection", "warn_plaintext_credentials"]

log = structlog.get_logger(__name__)

_warned: set[str] = set()
_warned_lock = threading.Lock()


def warn_plaintext_credentials(config: IronicConfig) -> bool:
    """Log, once per process and endpoint, that basic credentials go to Ironic over plain
    HTTP; returns whether it logged now."""
    message = plaintext_credentials_warning(config)
    if message is None:
        return False
    with _warned_lock:
        if config.endpoint in _warned:
            return False
        _warned.add(config.endpoint)
    log.warning(message, endpoint=config.endpoint)
    return True


class _NoHostnameCheckAdapter(TCPKeepAliveAdapter):
    """Verifies Ironic's certificate chain but not its SAN (``IRONIC_SKIP_CLIENT_SAN_VERIFY``).

    Replaces keystoneauth's keep-alive adapter for https, keeping its socket options.
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["assert_hostname"] = False
        super().init_poolmanager(*args, **kwargs)


def build_connection(config: IronicConfig) -> sdk_connection.Connection:
    """An SDK connection from ``config`` alone: no clouds.yaml, no ``OS_*`` variables.

    Status-code and connect retries of the SDK/keystoneauth are zeroed: retries happen in
    :mod:`bmo.ironic.retry`, with a budget that fits a reconcile.
    """
    warn_plaintext_credentials(config)
    kwargs: dict[str, Any] = {
        "app_name": "bmo",
        "baremetal_endpoint_override": config.api_url,
        "api_timeout": config.timeout,
        "connect_retries": 0,
        "status_code_retries": 0,
        "baremetal_connect_retries": 0,
        "baremetal_status_code_retries": 0,
    }
    if config.auth is not None:
        kwargs.update(
            auth_type="http_basic",
            username=config.auth.username,
            password=config.auth.password,
        )
    else:
        kwargs["auth_type"] = "none"
    tls = config.tls
    if tls.insecure:
        kwargs["insecure"] = True
    elif tls.ca_file is not None:
        kwargs["cacert"] = tls.ca_file
    if tls.mutual:
        kwargs["cert"] = tls.client_cert_file
        kwargs["key"] = tls.client_key_file
    conn = sdk_connection.Connection(**kwargs)
    if tls.skip_client_san_verify and not tls.insecure:
        conn.session.session.mount("https://", _NoHostnameCheckAdapter())
    return conn
