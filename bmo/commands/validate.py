"""``bmo validate FILE...``: offline checks of every kind bmo ships a CRD for.

Runs what a cluster would: the CRD schema (types, enums, patterns, required and unknown
fields) and then the validating webhook's create rules where upstream has a webhook for the
kind, reporting every problem as ``FILE: KIND NAMESPACE/NAME: FIELD: MESSAGE``:

* BareMetalHost: ``baremetalhost_validation.go validateHost``;
* DataImage: ``dataimage_validation.go validateDataImage``;
* BMCEventSubscription: ``bmceventsubscription_validation.go validateSubscription``;
* HostFirmwareComponents: ``hostfirmwarecomponents_validation.go`` (update URLs) and the
  controller's component names (``InvalidComponent``);
* HostFirmwareSettings: ``hostfirmwaresettings_validation.go`` - the settings against the
  FirmwareSchema in the same input that ``status.schema`` names or, without one, the only
  FirmwareSchema of its namespace there (the webhook reads it from the cluster; offline
  the input is the cluster). Without a schema only the Password rule runs;
* HardwareData, FirmwareSchema, HostUpdatePolicy, PreprovisioningImage: the schema only
  (upstream has no webhook for them).

Other kinds are skipped. Exit status: 0 all valid, 1 problems found, 2 a file could not be
read or parsed (missing, not UTF-8, not YAML, or beyond the decoder's limits on nesting and
number size). It never ends in a traceback: input bmo cannot check is reported as
unreadable, naming the file.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, TextIO, TypeVar

from bmo.api.bmceventsubscription import (
    BMC_EVENT_SUBSCRIPTION_KIND,
    BMCEventSubscription,
    validate_subscription_create,
)
from bmo.api.constants import BMH_KIND, GROUP_VERSION, HARDWARE_DATA_KIND
from bmo.api.dataimage import DATA_IMAGE_KIND, DataImage, validate_data_image
from bmo.api.errors import APIError, DecodeError
from bmo.api.firmware import (
    FIRMWARE_SCHEMA_KIND,
    HFC_KIND,
    HFS_KIND,
    FirmwareSchema,
    HostFirmwareComponents,
    HostFirmwareSettings,
)
from bmo.api.firmware_rules import (
    component_name_error,
    firmware_update_url_errors,
    validate_settings,
)
from bmo.api.host import BareMetalHost
from bmo.api.hostupdatepolicy import HUP_KIND
from bmo.api.manifests import ManifestError, load_documents
from bmo.api.meta import ObjectMeta
from bmo.api.preprovisioningimage import PREPROVISIONING_IMAGE_KIND
from bmo.api.schema import validate_manifest
from bmo.api.validation import ValidationProblem, validate_create

_T = TypeVar("_T")

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_UNREADABLE = 2

EXIT_CODES_HELP = """exit status:
  0  every object is valid
  1  at least one object is invalid (each problem printed as
     FILE: KIND NAMESPACE/NAME: FIELD: MESSAGE)
  2  a file could not be read or parsed (missing, not UTF-8, not YAML, nested
     too deeply, numbers with thousands of digits)"""

#: Every kind bmo ships a CRD for, in the order the summary lists them.
KINDS: Final = (
    BMH_KIND,
    HARDWARE_DATA_KIND,
    HFS_KIND,
    FIRMWARE_SCHEMA_KIND,
    HFC_KIND,
    HUP_KIND,
    PREPROVISIONING_IMAGE_KIND,
    DATA_IMAGE_KIND,
    BMC_EVENT_SUBSCRIPTION_KIND,
)


@dataclasses.dataclass(frozen=True)
class _Document:
    path: str
    namespace: str
    name: str
    body: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class _Context:
    """What a kind's rules may need beyond the object itself."""

    allow_development: bool
    schemas: Sequence[tuple[_Document, FirmwareSchema]]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check metal3.io manifests offline",
        description="Check BareMetalHost and the other metal3.io manifests against their CRD "
        "schema and the webhook rules. FILE may be '-' for standard input; files may hold "
        "several documents.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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


def _with_namespace(metadata: ObjectMeta, namespace: str) -> ObjectMeta:
    if metadata.namespace:
        return metadata
    return dataclasses.replace(metadata, namespace=namespace)


def _decode(decode: Callable[[Mapping[str, Any]], _T], body: Mapping[str, Any]) -> _T | None:
    # On a DecodeError the schema check has already said what is wrong with the types.
    with contextlib.suppress(DecodeError):
        return decode(body)
    return None


def _host_rules(doc: _Document, context: _Context) -> list[ValidationProblem]:
    host = _decode(BareMetalHost.from_dict, doc.body)
    if host is None:
        return []
    host = dataclasses.replace(host, metadata=_with_namespace(host.metadata, doc.namespace))
    return validate_create(host, allow_development=context.allow_development)


def _data_image_rules(doc: _Document, context: _Context) -> list[ValidationProblem]:
    image = _decode(DataImage.from_dict, doc.body)
    return [] if image is None else validate_data_image(image)


def _subscription_rules(doc: _Document, context: _Context) -> list[ValidationProblem]:
    subscription = _decode(BMCEventSubscription.from_dict, doc.body)
    if subscription is None:
        return []
    metadata = _with_namespace(subscription.metadata, doc.namespace)
    return validate_subscription_create(dataclasses.replace(subscription, metadata=metadata))


def _components_rules(doc: _Document, context: _Context) -> list[ValidationProblem]:
    components = _decode(HostFirmwareComponents.from_dict, doc.body)
    if components is None:
        return []
    problems = [
        ValidationProblem("spec.updates", message)
        for message in firmware_update_url_errors(components.spec.updates)
    ]
    # The controller's check too (``ValidateHostFirmwareComponents``, ``Valid=False`` with
    # reason ``InvalidComponent``): offline, the manifest is all there is to look at.
    error = component_name_error(components.spec.updates)
    if error is not None:
        problems.append(ValidationProblem("spec.updates", error))
    return problems


def _settings_rules(doc: _Document, context: _Context) -> list[ValidationProblem]:
    settings = _decode(HostFirmwareSettings.from_dict, doc.body)
    if settings is None:
        return []
    schema = _schema_for(doc, settings, context.schemas)
    return [
        ValidationProblem(f"spec.settings[{problem.name}]", problem.message)
        for problem in validate_settings(
            settings.spec.settings, None if schema is None else schema.spec.schema
        )
    ]


def _schema_for(
    doc: _Document,
    settings: HostFirmwareSettings,
    schemas: Sequence[tuple[_Document, FirmwareSchema]],
) -> FirmwareSchema | None:
    ref = settings.status.schema
    if ref is not None and ref.name:
        namespace = ref.namespace or doc.namespace
        for schema_doc, schema in schemas:
            if (schema_doc.namespace, schema_doc.name) == (namespace, ref.name):
                return schema
        return None
    same_namespace = [schema for d, schema in schemas if d.namespace == doc.namespace]
    return same_namespace[0] if len(same_namespace) == 1 else None


def _no_rules(doc: _Document, context: _Context) -> list[ValidationProblem]:
    return []


_RULES: Final[dict[str, Callable[[_Document, _Context], list[ValidationProblem]]]] = {
    BMH_KIND: _host_rules,
    HARDWARE_DATA_KIND: _no_rules,
    HFS_KIND: _settings_rules,
    FIRMWARE_SCHEMA_KIND: _no_rules,
    HFC_KIND: _components_rules,
    HUP_KIND: _no_rules,
    PREPROVISIONING_IMAGE_KIND: _no_rules,
    DATA_IMAGE_KIND: _data_image_rules,
    BMC_EVENT_SUBSCRIPTION_KIND: _subscription_rules,
}


def _check(doc: _Document, context: _Context) -> list[str]:
    kind = str(doc.body.get("kind"))
    label = f"{doc.path}: {kind} {doc.namespace}/{doc.name}"
    problems: list[ValidationProblem] = []
    if doc.body.get("apiVersion") != GROUP_VERSION:
        problems.append(
            ValidationProblem(
                "apiVersion",
                f"Unsupported value: {doc.body.get('apiVersion')!r}: supported values: "
                f'"{GROUP_VERSION}"',
            )
        )
    problems.extend(validate_manifest(doc.body))
    problems.extend(_RULES[kind](doc, context))
    return [f"{label}: {p.field}: {p.message}" for p in problems]


def _summary(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{counts[kind]} {kind}(s)" for kind in KINDS if counts.get(kind))


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    secrets: set[tuple[str, str]] = set()
    checked: list[_Document] = []
    for path in args.files:
        try:
            documents = list(_documents(path))
        except (OSError, UnicodeDecodeError) as exc:
            print(f"bmo validate: cannot read {path}: {exc}", file=err)
            return EXIT_UNREADABLE
        except ManifestError as exc:
            print(f"bmo validate: {path}: {exc}", file=err)
            return EXIT_UNREADABLE
        for document in documents:
            kind = document.get("kind")
            raw_metadata = document.get("metadata")
            metadata = raw_metadata if isinstance(raw_metadata, dict) else {}
            namespace = str(metadata.get("namespace") or args.namespace)
            name = str(metadata.get("name", ""))
            if kind == "Secret" and document.get("apiVersion") == "v1":
                secrets.add((namespace, name))
            elif isinstance(kind, str) and kind in _RULES:
                checked.append(_Document(path, namespace, name, document))
    schemas = [
        (doc, schema)
        for doc in checked
        if doc.body.get("kind") == FIRMWARE_SCHEMA_KIND
        and (schema := _decode(FirmwareSchema.from_dict, doc.body)) is not None
    ]
    context = _Context(allow_development=args.development_drivers, schemas=schemas)
    counts: dict[str, int] = {}
    problems: list[str] = []
    wanted: list[tuple[str, str]] = []
    for doc in checked:
        kind = str(doc.body.get("kind"))
        counts[kind] = counts.get(kind, 0) + 1
        try:
            problems.extend(_check(doc, context))
            host = _decode(BareMetalHost.from_dict, doc.body) if kind == BMH_KIND else None
        except (RecursionError, ValueError, TypeError, APIError) as exc:
            # A shape no check foresaw: say where, never a traceback (or a value).
            print(
                f"bmo validate: {doc.path}: cannot check {kind} {doc.namespace}/{doc.name}: "
                f"{type(exc).__name__}",
                file=err,
            )
            return EXIT_UNREADABLE
        if host is not None and host.spec.bmc.credentials_name:
            wanted.append((doc.namespace, host.spec.bmc.credentials_name))
    for line in problems:
        print(line, file=out)
    summary = _summary(counts) or "0 BareMetalHost(s)"
    if problems:
        print(f"{len(problems)} problem(s) in {summary}", file=err)
        return EXIT_PROBLEMS
    missing = sorted({key for key in wanted if key not in secrets})
    note = ""
    if missing:
        names = ", ".join(f"{ns}/{name}" for ns, name in missing)
        note = f"; credentials Secret(s) not in these files: {names}"
    print(f"{summary} valid{note}", file=out)
    return EXIT_OK
