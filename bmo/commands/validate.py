"""``bmo validate FILE...``: offline checks of BareMetalHost and firmware manifests.

Runs what a cluster would: the CRD schema (types, enums, patterns, required and unknown
fields) and then the rules, reporting every problem as ``FILE: KIND NAMESPACE/NAME: FIELD:
MESSAGE``:

* BareMetalHost: the validating webhook's create rules;
* HostFirmwareComponents: the webhook's URL checks and the controller's component names
  (``InvalidComponent``);
* HostFirmwareSettings: no Password settings and, when a FirmwareSchema of its namespace is
  in the same input (the one its ``status.schema`` names, or the only one), every value
  checked against it with the controller's messages;
* FirmwareSchema, HostUpdatePolicy: the CRD schema.

Other kinds are skipped. Exit status: 0 all valid, 1 problems found, 2 a file could not be
read or parsed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

from bmo.api.constants import BMH_KIND, GROUP_VERSION
from bmo.api.errors import APIError, DecodeError
from bmo.api.firmware import (
    FIRMWARE_SCHEMA_KIND,
    HFC_KIND,
    HFS_KIND,
    FirmwareSchema,
    HostFirmwareComponents,
    HostFirmwareSettings,
    SettingSchema,
)
from bmo.api.firmware_rules import (
    component_name_error,
    firmware_update_url_errors,
    invalid_setting_event,
    validate_settings,
)
from bmo.api.host import BareMetalHost
from bmo.api.hostupdatepolicy import HUP_KIND
from bmo.api.manifests import ManifestError, load_documents
from bmo.api.schema import validate_manifest
from bmo.api.validation import ValidationProblem, validate_create

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_UNREADABLE = 2


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check BareMetalHost and firmware manifests offline",
        description="Check BareMetalHost, HostFirmwareSettings, HostFirmwareComponents, "
        "FirmwareSchema and HostUpdatePolicy manifests against the CRD schema and the "
        "webhook/controller rules. FILE may be '-' for standard input; files may hold "
        "several documents.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument(
        "-n",
        "--namespace",
        default="default",
        help="namespace assumed for manifests that name none (default: %(default)s)",
    )
    parser.add_argument(
        "--development-drivers",
        action="store_true",
        help="accept the development-only 'fake' BMC scheme",
    )
    parser.set_defaults(func=run)


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _documents(path: str) -> Iterator[dict[str, Any]]:
    yield from load_documents(_read(path))


def _check_host(
    path: str, document: dict[str, Any], namespace: str, allow_development: bool
) -> tuple[list[str], BareMetalHost | None]:
    metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    ns = str(metadata.get("namespace") or namespace)
    label = f"{path}: {BMH_KIND} {ns}/{metadata.get('name', '')}"
    problems = _schema_problems(document)
    host: BareMetalHost | None = None
    # On a DecodeError the schema check has already said what is wrong with the types.
    with contextlib.suppress(DecodeError):
        host = BareMetalHost.from_dict(document)
    if host is not None:
        if not host.metadata.namespace:
            host = dataclasses.replace(
                host, metadata=dataclasses.replace(host.metadata, namespace=ns)
            )
        problems.extend(validate_create(host, allow_development=allow_development))
    return [f"{label}: {p.field}: {p.message}" for p in problems], host


FIRMWARE_KINDS = (HFS_KIND, HFC_KIND, FIRMWARE_SCHEMA_KIND, HUP_KIND)
Schemas = dict[tuple[str, str], Mapping[str, SettingSchema]]


def _schema_problems(document: dict[str, Any]) -> list[ValidationProblem]:
    problems: list[ValidationProblem] = []
    if document.get("apiVersion") != GROUP_VERSION:
        problems.append(
            ValidationProblem(
                "apiVersion",
                f"Unsupported value: {document.get('apiVersion')!r}: supported values: "
                f'"{GROUP_VERSION}"',
            )
        )
    problems.extend(validate_manifest(document))
    return problems


def _schema_for(
    hfs: HostFirmwareSettings, namespace: str, schemas: Schemas
) -> Mapping[str, SettingSchema] | None:
    """The FirmwareSchema ``hfs`` names in its status, else the only one of its namespace."""
    reference = hfs.status.schema
    if reference is not None and reference.name:
        return schemas.get((reference.namespace or namespace, reference.name))
    candidates = [schema for (ns, _), schema in schemas.items() if ns == namespace]
    return candidates[0] if len(candidates) == 1 else None


def _check_firmware(
    document: dict[str, Any], namespace: str, schemas: Schemas
) -> list[ValidationProblem]:
    """The CRD schema, then the rules of the firmware kind (none for FirmwareSchema and
    HostUpdatePolicy beyond their CRD)."""
    problems = _schema_problems(document)
    kind = document.get("kind")
    try:
        if kind == HFC_KIND:
            hfc = HostFirmwareComponents.from_dict(document)
            problems.extend(
                ValidationProblem("spec.updates", m)
                for m in firmware_update_url_errors(hfc.spec.updates)
            )
            error = component_name_error(hfc.spec.updates)
            if error is not None:
                problems.append(ValidationProblem("spec.updates", error))
        elif kind == HFS_KIND:
            hfs = HostFirmwareSettings.from_dict(document)
            schema = _schema_for(hfs, namespace, schemas)
            problems.extend(
                ValidationProblem(f"spec.settings[{p.name}]", invalid_setting_event(p))
                for p in validate_settings(hfs.spec.settings, schema)
            )
    except DecodeError:
        pass  # the schema check has already said what is wrong with the types
    return problems


def _collect_schemas(documents: list[tuple[str, dict[str, Any]]], default_ns: str) -> Schemas:
    schemas: Schemas = {}
    for _, document in documents:
        if document.get("kind") != FIRMWARE_SCHEMA_KIND:
            continue
        try:
            schema = FirmwareSchema.from_dict(document)
        except (APIError, ValueError):
            continue
        namespace = schema.metadata.namespace or default_ns
        schemas[(namespace, schema.metadata.name)] = schema.spec.schema
    return schemas


def _summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}(s)" for kind, n in counts.items() if n) or "0 BareMetalHost(s)"


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    counts: dict[str, int] = {BMH_KIND: 0, **dict.fromkeys(FIRMWARE_KINDS, 0)}
    problems: list[str] = []
    secrets: set[tuple[str, str]] = set()
    wanted: list[tuple[str, str, str]] = []
    documents: list[tuple[str, dict[str, Any]]] = []
    for path in args.files:
        try:
            documents.extend((path, d) for d in _documents(path))
        except (OSError, UnicodeDecodeError) as exc:
            print(f"bmo validate: cannot read {path}: {exc}", file=err)
            return EXIT_UNREADABLE
        except ManifestError as exc:
            print(f"bmo validate: {path}: {exc}", file=err)
            return EXIT_UNREADABLE
    schemas = _collect_schemas(documents, args.namespace)
    for path, document in documents:
        kind = document.get("kind")
        metadata = document.get("metadata") or {}
        namespace = str(metadata.get("namespace") or args.namespace)
        if kind == "Secret" and document.get("apiVersion") == "v1":
            secrets.add((namespace, str(metadata.get("name", ""))))
            continue
        if kind in FIRMWARE_KINDS:
            counts[str(kind)] += 1
            label = f"{path}: {kind} {namespace}/{metadata.get('name', '')}"
            problems.extend(
                f"{label}: {p.field}: {p.message}"
                for p in _check_firmware(document, namespace, schemas)
            )
            continue
        if kind != BMH_KIND:
            continue
        counts[BMH_KIND] += 1
        found, host = _check_host(path, document, args.namespace, args.development_drivers)
        problems.extend(found)
        if host is not None and host.spec.bmc.credentials_name:
            wanted.append((path, namespace, host.spec.bmc.credentials_name))
    for line in problems:
        print(line, file=out)
    if problems:
        print(f"{len(problems)} problem(s) in {_summary(counts)}", file=err)
        return EXIT_PROBLEMS
    missing = sorted({(ns, name) for _, ns, name in wanted if (ns, name) not in secrets})
    note = ""
    if missing:
        names = ", ".join(f"{ns}/{name}" for ns, name in missing)
        note = f"; credentials Secret(s) not in these files: {names}"
    print(f"{_summary(counts)} valid{note}", file=out)
    return EXIT_OK
