"""Just enough of Kubernetes' protobuf encoding to read what kubectl's typed clients send.

``kubectl create namespace|secret|configmap|serviceaccount`` post protobuf bodies (and 1.32
does not fall back to JSON after a 415). Those four kinds are flat enough to decode by hand:
the ``k8s\\0`` envelope (runtime.Unknown), ObjectMeta, and each kind's own fields, with the
field numbers of k8s.io/api's generated.proto. Responses stay JSON, which kubectl accepts.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from .errors import ApiError

MAGIC = b"k8s\x00"
Fields = list[tuple[int, int | bytes]]


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes) -> Fields:
    out: Fields = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
            out.append((num, value))
        elif wire == 2:
            size, i = _varint(buf, i)
            out.append((num, buf[i : i + size]))
            i += size
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def _str(v: int | bytes) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _entry(v: int | bytes) -> tuple[str, bytes]:
    key, value = "", b""
    for num, x in _fields(v if isinstance(v, bytes) else b""):
        if num == 1:
            key = _str(x)
        elif num == 2 and isinstance(x, bytes):
            value = x
    return key, value


def _meta(buf: bytes) -> dict[str, Any]:
    strings = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    meta: dict[str, Any] = {}
    for num, v in _fields(buf):
        if num in strings:
            meta[strings[num]] = _str(v)
        elif num == 7 and isinstance(v, int):
            meta["generation"] = v
        elif num in (11, 12):
            k, val = _entry(v)
            meta.setdefault("labels" if num == 11 else "annotations", {})[k] = val.decode()
        elif num == 14:
            meta.setdefault("finalizers", []).append(_str(v))
    return meta


def _namespace(fields: Fields, obj: dict[str, Any]) -> None:
    for num, v in fields:
        if num == 2 and isinstance(v, bytes):
            fins = [_str(x) for n, x in _fields(v) if n == 1]
            if fins:
                obj["spec"] = {"finalizers": fins}


def _secret(fields: Fields, obj: dict[str, Any]) -> None:
    for num, v in fields:
        if num == 2:
            k, val = _entry(v)
            obj.setdefault("data", {})[k] = base64.b64encode(val).decode()
        elif num == 3:
            obj["type"] = _str(v)
        elif num == 4:
            k, val = _entry(v)
            obj.setdefault("stringData", {})[k] = val.decode()
        elif num == 5:
            obj["immutable"] = bool(v)


def _configmap(fields: Fields, obj: dict[str, Any]) -> None:
    for num, v in fields:
        if num == 2:
            k, val = _entry(v)
            obj.setdefault("data", {})[k] = val.decode()
        elif num == 3:
            k, val = _entry(v)
            obj.setdefault("binaryData", {})[k] = base64.b64encode(val).decode()
        elif num == 4:
            obj["immutable"] = bool(v)


def _serviceaccount(fields: Fields, obj: dict[str, Any]) -> None:
    for num, v in fields:
        if num == 4:
            obj["automountServiceAccountToken"] = bool(v)


DECODERS: dict[tuple[str, str], Callable[[Fields, dict[str, Any]], None]] = {
    ("v1", "Namespace"): _namespace,
    ("v1", "Secret"): _secret,
    ("v1", "ConfigMap"): _configmap,
    ("v1", "ServiceAccount"): _serviceaccount,
}


def decode(data: bytes) -> dict[str, Any]:
    """Decode a protobuf request body into the JSON shape, or raise 415 for other kinds."""
    unsupported = ApiError(
        415,
        "UnsupportedMediaType",
        "the emulator reads protobuf only for v1 Namespace, Secret, ConfigMap and "
        "ServiceAccount; send JSON instead (kubectl apply/create -f do)",
    )
    if not data.startswith(MAGIC):
        raise unsupported
    try:
        api_version = kind = ""
        raw = b""
        for num, v in _fields(data[len(MAGIC) :]):
            if num == 1 and isinstance(v, bytes):
                for n, x in _fields(v):
                    if n == 1:
                        api_version = _str(x)
                    elif n == 2:
                        kind = _str(x)
            elif num == 2 and isinstance(v, bytes):
                raw = v
        decoder = DECODERS.get((api_version, kind))
        if decoder is None:
            raise unsupported
        fields = _fields(raw)
        obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": {}}
        for num, v in fields:
            if num == 1 and isinstance(v, bytes):
                obj["metadata"] = _meta(v)
        decoder(fields, obj)
        return obj
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, "BadRequest", f"error decoding the protobuf request body: {e}") from e
