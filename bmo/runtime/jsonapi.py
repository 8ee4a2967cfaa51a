"""Requests as plain JSON, through the same ``ApiClient``, without the generated methods'
per-call plumbing.

Each generated method (``CustomObjectsApi.replace_namespaced_custom_object_status``,
``CoreV1Api.create_namespaced_event``, ...) validates its arguments with pydantic
(``validate_call``), walks the body with ``sanitize_for_serialization`` and decodes the
answer through ``response_deserialize``; for a BareMetalHost status PUT that was a third of
the host reconciler's CPU. The body bmo sends is already a JSON dict and the answer it wants
is one, so :class:`JsonApi` keeps only what reaches the wire: the same headers (``Accept``,
``Content-Type`` for a patch, the client's default headers and credentials, added by
``ApiClient.param_serialize``), the same URL, and a body that ``RESTClientObject.request``
serialises with the same ``json.dumps``. The request still goes through ``call_api``, so the
rate limiter and request timeout of :class:`~bmo.runtime.manager.RateLimitedApiClient` apply,
and a failure raises the same ``ApiException`` subclasses (``ApiException.from_response``)
for :mod:`bmo.runtime.errors` to translate.

The generated serializers this mirrors: ``kubernetes/client/api/custom_objects_api.py``
``_replace_namespaced_custom_object_serialize`` and ``..._status_serialize``,
``_create_namespaced_custom_object_serialize``, ``_patch_namespaced_custom_object_serialize``,
and ``core_v1_api.py`` ``_create_namespaced_event_serialize``: ``Accept`` is
``select_header_accept`` of JSON, YAML and protobuf (JSON wins); ``Content-Type`` is set only
on a patch; the auth setting is ``BearerToken``. Reads, lists and watches mirror
``core_v1_api.py`` ``_read_namespaced_secret_serialize`` and ``_list_namespaced_secret_serialize``
(and the custom-object ones, whose query parameters are a subset in the same order), called
with ``_preload_content=False`` (``ApiClient._call_with_legacy_options``: a non-2xx answer
raises, a 2xx one is handed back unread).

Not touching the generated API classes also keeps them from loading: ``CoreV1Api`` alone is
about 20 MiB of pydantic validators in every bmo process.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

__all__ = ["JsonApi", "collection_path", "core_path", "custom_object_path", "list_query"]

ACCEPT = "application/json"
AUTH_SETTINGS = ["BearerToken"]

#: The generated list methods' keyword arguments and the query parameters they become, in
#: the order ``_list_namespaced_secret_serialize`` appends them.
_LIST_QUERY: Final = (
    ("pretty", "pretty"),
    ("allow_watch_bookmarks", "allowWatchBookmarks"),
    ("_continue", "continue"),
    ("field_selector", "fieldSelector"),
    ("label_selector", "labelSelector"),
    ("limit", "limit"),
    ("resource_version", "resourceVersion"),
    ("resource_version_match", "resourceVersionMatch"),
    ("send_initial_events", "sendInitialEvents"),
    ("timeout_seconds", "timeoutSeconds"),
    ("watch", "watch"),
)
_LIST_KEYWORDS: Final = frozenset(keyword for keyword, _ in _LIST_QUERY)


def list_query(**params: Any) -> list[tuple[str, Any]]:
    """The query of a generated ``list_*`` call given these keyword arguments (``None``
    left out, as the serializers do)."""
    unknown = set(params) - _LIST_KEYWORDS
    if unknown:
        raise TypeError(f"not a list parameter: {', '.join(sorted(unknown))}")
    return [(name, params[kw]) for kw, name in _LIST_QUERY if params.get(kw) is not None]


def custom_object_path(
    group: str,
    version: str,
    namespace: str,
    plural: str,
    name: str | None = None,
    *,
    subresource: str | None = None,
) -> tuple[str, dict[str, str]]:
    """The generated methods' ``resource_path`` template for a namespaced custom object (or
    its collection), and its path parameters."""
    path = "/apis/{group}/{version}/namespaces/{namespace}/{plural}"
    params = {"group": group, "version": version, "namespace": namespace, "plural": plural}
    if name is not None:
        path += "/{name}"
        params["name"] = name
        if subresource is not None:
            path += "/" + subresource
    return path, params


def collection_path(
    group: str, version: str, plural: str, namespace: str | None
) -> tuple[str, dict[str, str]]:
    """A collection's path: core (``group`` ``""``) or custom, in one namespace or across
    all (``namespace`` None, also the only form of a cluster-scoped kind)."""
    if group:
        if namespace is not None:
            return custom_object_path(group, version, namespace, plural)
        return "/apis/{group}/{version}/{plural}", {
            "group": group,
            "version": version,
            "plural": plural,
        }
    if namespace is not None:
        return "/api/" + version + "/namespaces/{namespace}/" + plural, {"namespace": namespace}
    return "/api/" + version + "/" + plural, {}


def core_path(plural: str, namespace: str, name: str | None = None) -> tuple[str, dict[str, str]]:
    """The ``CoreV1Api`` ``resource_path`` of a namespaced core object (or collection)."""
    path = "/api/v1/namespaces/{namespace}/" + plural
    params = {"namespace": namespace}
    if name is not None:
        path += "/{name}"
        params["name"] = name
    return path, params


class JsonApi:
    """``GET``/``PUT``/``POST``/``PATCH`` of JSON through ``api_client``; answers are the
    decoded JSON objects the generated ``object``-typed methods would return (or, from
    :meth:`open`, the unread response their ``_preload_content=False`` form returns)."""

    def __init__(self, api_client: k8s.ApiClient) -> None:
        self.api_client = api_client

    def put(self, resource: tuple[str, dict[str, str]], body: Any, *, timeout: Any = None) -> Any:
        return self.request("PUT", resource, body, timeout=timeout)

    def post(self, resource: tuple[str, dict[str, str]], body: Any, *, timeout: Any = None) -> Any:
        return self.request("POST", resource, body, timeout=timeout)

    def patch(
        self,
        resource: tuple[str, dict[str, str]],
        body: Any,
        content_type: str,
        *,
        timeout: Any = None,
    ) -> Any:
        return self.request("PATCH", resource, body, content_type=content_type, timeout=timeout)

    def get(
        self,
        resource: tuple[str, dict[str, str]],
        *,
        query: Sequence[tuple[str, Any]] = (),
        timeout: Any = None,
    ) -> Any:
        """A read (``read_namespaced_*``, or a list given its :func:`list_query`)."""
        return self.request("GET", resource, None, query=query, timeout=timeout)

    def open(
        self,
        resource: tuple[str, dict[str, str]],
        *,
        query: Sequence[tuple[str, Any]] = (),
        timeout: Any = None,
    ) -> Any:
        """A ``GET`` whose answer is handed back unread (the urllib3 response): a list to
        decode as the caller likes, or a watch to stream. Raises for a non-2xx answer."""
        response = self._send("GET", resource, None, query=query, timeout=timeout)
        if not 200 <= response.status <= 299:
            response.read()
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return response.response

    def request(
        self,
        method: str,
        resource: tuple[str, dict[str, str]],
        body: Any,
        *,
        content_type: str | None = None,
        query: Sequence[tuple[str, Any]] = (),
        timeout: Any = None,
    ) -> Any:
        """One request; ``body`` must be plain JSON (dicts, lists, scalars), as
        ``sanitize_for_serialization`` would have left it."""
        response = self._send(
            method, resource, body, content_type=content_type, query=query, timeout=timeout
        )
        data = response.read()
        if not 200 <= response.status <= 299:
            # What ``ApiClient.response_deserialize`` raises: the subclass for the status,
            # with the answer's text as its body.
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return json.loads(data) if data else None

    def _send(
        self,
        method: str,
        resource: tuple[str, dict[str, str]],
        body: Any,
        *,
        content_type: str | None = None,
        query: Sequence[tuple[str, Any]] = (),
        timeout: Any = None,
    ) -> Any:
        path_template, path_params = resource
        headers: dict[str, Any] = {"Accept": ACCEPT}
        if content_type is not None:
            headers["Content-Type"] = content_type
        # ``param_serialize`` adds the default headers (User-Agent), the cookie and the
        # credentials, and quotes the path parameters as the generated methods have it do.
        # The body is left out of it: it is already what its sanitizing would return.
        method, url, header_params, _, post_params = self.api_client.param_serialize(
            method=method,
            resource_path=path_template,
            path_params=path_params,
            query_params=list(query),
            header_params=headers,
            body=None,
            post_params=[],
            files={},
            auth_settings=AUTH_SETTINGS,
            collection_formats={},
        )
        return self.api_client.call_api(
            method, url, header_params, body, post_params, _request_timeout=timeout
        )
