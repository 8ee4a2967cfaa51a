"""Reading Kubernetes manifests from YAML the way kubectl does.

PyYAML implements YAML 1.1, where ``52:54:00:12:34:56`` is a base-60 integer; kubectl's
YAML library does not do base-60, so a MAC address written without quotes must stay a
string. Everything else is PyYAML's safe loader, within :mod:`bmo.api.safejson`'s limits:
PyYAML recurses once per nesting level and refuses integers of more than 4300 digits with a
bare ``ValueError``, so both become a :class:`ManifestError` that says which limit was hit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO, Any

import yaml

from bmo.api.errors import APIError
from bmo.api.safejson import MAX_DEPTH


class ManifestError(APIError):
    """A manifest stream is not valid YAML, or a document is not a mapping."""


class _TooDeep(yaml.YAMLError):
    pass


class KubeYAMLLoader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1 base-60 integers and floats, refusing to compose nodes
    nested deeper than :data:`~bmo.api.safejson.MAX_DEPTH` (PyYAML's composer recurses per
    level: near Python's recursion limit a few kilobytes of ``[`` cost seconds)."""

    _depth = 0

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        # The scanner's simple-key bookkeeping costs O(flow depth) per token: stop early.
        if self.flow_level >= MAX_DEPTH:
            raise _TooDeep(f"nested deeper than {MAX_DEPTH} levels")
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


KubeYAMLLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
KubeYAMLLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(
        r"""^(?:[-+]?0b[0-1_]+
        |[-+]?0[0-7_]+
        |[-+]?(?:0|[1-9][0-9_]*)
        |[-+]?0x[0-9a-fA-F_]+)$""",
        re.X,
    ),
    list("-+0123456789"),
)
KubeYAMLLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _depth(document: Any) -> int:
    """How deeply ``document`` nests mappings and sequences, without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def load_documents(stream: str | IO[str]) -> Iterator[dict[str, Any]]:
    """Yield each non-empty document of a multi-document YAML stream."""
    too_deep = f"a manifest document nests deeper than {MAX_DEPTH} levels; flatten it"
    try:
        for doc in yaml.load_all(stream, Loader=KubeYAMLLoader):
            if doc is None:
                continue
            if not isinstance(doc, dict):
                raise ManifestError(
                    f"a manifest document must be a mapping, got {type(doc).__name__}"
                )
            if _depth(doc) > MAX_DEPTH:
                raise ManifestError(too_deep)
            yield doc
    except _TooDeep:
        raise ManifestError(too_deep) from None
    except yaml.YAMLError as exc:
        raise ManifestError(f"invalid YAML: {exc}") from None
    except RecursionError:
        # PyYAML's composer and constructor recurse per level.
        raise ManifestError(too_deep) from None
    except ValueError as exc:
        # int() refusing a number of thousands of digits; no field takes such a number.
        reason = str(exc)
        if "digits" in reason:
            reason = "a number has thousands of digits; no field takes such a number"
        raise ManifestError(f"invalid YAML value: {reason}") from None
