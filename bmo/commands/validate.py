"""``bmo validate FILE...``: offline checks of BareMetalHost manifests.

Runs what a cluster would: the CRD schema (types, enums, patterns, required and unknown
fields) and then the validating webhook's create rules, reporting every problem as
``FILE: BareMetalHost NAMESPACE/NAME: FIELD: MESSAGE``. Other kinds are skipped. Exit
status: 0 all valid, 1 problems found, 2 a file could not be read or parsed (missing,
not UTF-8, not YAML, or beyond the decoder's limits on nesting and number size). It never
ends in a traceback: input bmo cannot check is reported as unreadable, naming the file.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from bmo.api.constants import BMH_KIND, GROUP_VERSION
from bmo.api.errors import APIError, DecodeError
from bmo.api.host import BareMetalHost
from bmo.api.manifests import ManifestError, load_documents
from bmo.api.schema import validate_manifest
from bmo.api.validation import ValidationProblem, validate_create

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_UNREADABLE = 2

EXIT_CODES_HELP = """exit status:
  0  every BareMetalHost is valid
  1  at least one BareMetalHost is invalid (each problem printed as
     FILE: BareMetalHost NAMESPACE/NAME: FIELD: MESSAGE)
  2  a file could not be read or parsed (missing, not UTF-8, not YAML, nested
     too deeply, numbers with thousands of digits)"""


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check BareMetalHost manifests offline",
        description="Check BareMetalHost manifests against the CRD schema and the webhook "
        "rules. FILE may be '-' for standard input; files may hold several documents.",
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


def _check_host(
    path: str, document: dict[str, Any], namespace: str, allow_development: bool
) -> tuple[list[str], BareMetalHost | None]:
    metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    ns = str(metadata.get("namespace") or namespace)
    label = f"{path}: {BMH_KIND} {ns}/{metadata.get('name', '')}"
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


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    hosts = 0
    problems: list[str] = []
    secrets: set[tuple[str, str]] = set()
    wanted: list[tuple[str, str, str]] = []
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
            if kind == "Secret" and document.get("apiVersion") == "v1":
                secrets.add((namespace, str(metadata.get("name", ""))))
                continue
            if kind != BMH_KIND:
                continue
            hosts += 1
            try:
                found, host = _check_host(path, document, args.namespace, args.development_drivers)
            except (RecursionError, ValueError, TypeError, APIError) as exc:
                # A shape no check foresaw: say where, never a traceback (or a value).
                name = metadata.get("name", "") if isinstance(metadata, dict) else ""
                print(
                    f"bmo validate: {path}: cannot check {BMH_KIND} {namespace}/{name}: "
                    f"{type(exc).__name__}",
                    file=err,
                )
                return EXIT_UNREADABLE
            problems.extend(found)
            if host is not None and host.spec.bmc.credentials_name:
                wanted.append((path, namespace, host.spec.bmc.credentials_name))
    for line in problems:
        print(line, file=out)
    if problems:
        print(f"{len(problems)} problem(s) in {hosts} BareMetalHost(s)", file=err)
        return EXIT_PROBLEMS
    missing = sorted({(ns, name) for _, ns, name in wanted if (ns, name) not in secrets})
    note = ""
    if missing:
        names = ", ".join(f"{ns}/{name}" for ns, name in missing)
        note = f"; credentials Secret(s) not in these files: {names}"
    print(f"{hosts} BareMetalHost(s) valid{note}", file=out)
    return EXIT_OK
