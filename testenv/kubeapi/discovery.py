"""Discovery documents and the slice of OpenAPI v3 kubectl needs.

kubectl asks OpenAPI v3 whether a kind's PATCH takes ``fieldValidation`` (then it leaves
validation to the server) and whether it takes strategic merge patch. The emulator advertises
``fieldValidation`` and only JSON/merge patch, so kubectl computes strategic merge patches for
built-ins from its compiled-in types and merge patches for custom resources. ``/openapi/v2``
(protobuf only in kubectl) is left 404, which kubectl tolerates.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .resources import ALL_VERBS, ResourceType

VERSION_INFO = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-kubeapi-emulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "python",
    "compiler": "python",
    "platform": "linux/amd64",
}


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16].upper()


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _groups(types: list[ResourceType]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for rt in types:
        if not rt.group:
            continue
        versions = out.setdefault(rt.group, [])
        for v in rt.versions:
            if v not in versions:
                versions.append(v)
    return out


def _group_doc(name: str, versions: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "versions": [{"groupVersion": f"{name}/{v}", "version": v} for v in versions],
        "preferredVersion": {"groupVersion": f"{name}/{versions[0]}", "version": versions[0]},
    }


def group_list(types: list[ResourceType]) -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_doc(g, vs) for g, vs in sorted(_groups(types).items())],
    }


def group(name: str, types: list[ResourceType]) -> dict[str, Any] | None:
    versions = _groups(types).get(name)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(name, versions)}


def resource_list(grp: str, version: str, types: list[ResourceType]) -> dict[str, Any] | None:
    served = [rt for rt in types if rt.group == grp and version in rt.versions]
    if not served:
        return None
    resources: list[dict[str, Any]] = []
    for rt in sorted(served, key=lambda r: r.plural):
        verbs = [
            v for v in ALL_VERBS if not (rt.plural == "namespaces" and v == "deletecollection")
        ]
        entry: dict[str, Any] = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": verbs,
            "storageVersionHash": _hash(f"{rt.group}/{rt.storage_version}/{rt.kind}"),
        }
        if rt.short_names:
            entry["shortNames"] = rt.short_names
        if rt.categories:
            entry["categories"] = rt.categories
        resources.append(entry)
        if rt.status_subresource:
            resources.append(
                {
                    "name": f"{rt.plural}/status",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{grp}/{version}" if grp else version,
        "resources": resources,
    }


def _gv_path(grp: str, version: str) -> str:
    return f"apis/{grp}/{version}" if grp else f"api/{version}"


def _schema_name(rt: ResourceType, version: str) -> str:
    prefix = ".".join(reversed(rt.group.split("."))) if rt.group else "io.k8s.api.core"
    return f"{prefix}.{version}.{rt.kind}"


def openapi_gv(grp: str, version: str, types: list[ResourceType]) -> dict[str, Any] | None:
    served = [rt for rt in types if rt.group == grp and version in rt.versions]
    if not served:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for rt in served:
        gvk = {"group": rt.group, "version": version, "kind": rt.kind}
        ref = {"$ref": f"#/components/schemas/{_schema_name(rt, version)}"}
        base = "/" + _gv_path(grp, version)
        coll = (
            f"{base}/namespaces/{{namespace}}/{rt.plural}"
            if rt.namespaced
            else f"{base}/{rt.plural}"
        )
        params = [
            {"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            for n in ("dryRun", "fieldManager", "fieldValidation")
        ]
        body = {"content": {"*/*": {"schema": ref}}}
        patch_body = {
            "content": {
                "application/json-patch+json": {"schema": {"type": "object"}},
                "application/merge-patch+json": {"schema": {"type": "object"}},
            }
        }
        ok = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}

        def op(
            action: str,
            rt: ResourceType = rt,
            gvk: dict[str, str] = gvk,
            ok: dict[str, Any] = ok,
        ) -> dict[str, Any]:
            return {
                "operationId": f"{action}{rt.kind}",
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "responses": ok,
            }

        paths[coll] = {
            "get": op("list"),
            "post": {**op("post"), "parameters": params, "requestBody": body},
        }
        paths[f"{coll}/{{name}}"] = {
            "get": op("get"),
            "put": {**op("put"), "parameters": params, "requestBody": body},
            "patch": {**op("patch"), "parameters": params, "requestBody": patch_body},
            "delete": op("delete"),
        }
        schema = dict(rt.schemas.get(version) or {"type": "object"})
        props = dict(schema.get("properties") or {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
        if schema.get("type") == "object" and "x-kubernetes-preserve-unknown-fields" not in schema:
            schema["properties"] = props
        schema["x-kubernetes-group-version-kind"] = [gvk]
        schemas[_schema_name(rt, version)] = schema
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes API emulator", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def openapi_index(types: list[ResourceType]) -> dict[str, Any]:
    gvs = sorted({(rt.group, v) for rt in types for v in rt.versions})
    paths = {}
    for grp, version in gvs:
        doc = openapi_gv(grp, version, types)
        digest = _hash(json.dumps(doc, sort_keys=True))
        path = _gv_path(grp, version)
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}
