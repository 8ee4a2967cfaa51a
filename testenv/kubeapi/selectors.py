"""Label and field selectors, parsed once per request."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import bad_request

Predicate = Callable[[dict[str, Any]], bool]

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_TOKEN = re.compile(
    r"\s*(?:(?P<not>!)\s*(?P<nkey>" + _KEY + r")"
    r"|(?P<key>" + _KEY + r")\s*(?:(?P<op>==|=|!=|>|<)\s*(?P<val>[-A-Za-z0-9_.]*)"
    r"|(?<=\s)(?P<setop>in|notin)\s*\((?P<set>[^)]*)\)"
    r")?)\s*"
)


def parse_label_selector(text: str) -> Predicate:
    """``a=b,c!=d,e in (f,g),h notin (i),j,!k,l>1``; an empty selector matches everything."""
    checks: list[Callable[[dict[str, str]], bool]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise bad_request(f"unable to parse requirement: invalid label selector {text!r}")
        checks.append(_requirement(m))
        pos = m.end()
        if pos < len(text):
            if text[pos] != ",":
                raise bad_request(f"unable to parse requirement: invalid label selector {text!r}")
            pos += 1

    def match(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(check(labels) for check in checks)

    return match


def _requirement(m: re.Match[str]) -> Callable[[dict[str, str]], bool]:
    if m.group("not"):
        nkey = m.group("nkey")
        return lambda labels: nkey not in labels
    key = m.group("key")
    op, val = m.group("op"), m.group("val")
    setop = m.group("setop")
    if setop:
        values = {v.strip() for v in m.group("set").split(",") if v.strip()}
        if setop == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if op in ("=", "=="):
        return lambda labels: labels.get(key) == val
    if op == "!=":
        return lambda labels: labels.get(key) != val
    if op in (">", "<"):
        try:
            bound = int(val)
        except ValueError as e:
            raise bad_request(f"invalid label selector value {val!r}: must be an integer") from e

        def compare(labels: dict[str, str]) -> bool:
            try:
                got = int(labels[key])
            except (KeyError, ValueError):
                return False
            return got > bound if op == ">" else got < bound

        return compare
    return lambda labels: key in labels


def _field_value(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text: str) -> Predicate:
    """``metadata.name=x,involvedObject.uid!=y``: any dotted path, compared as strings."""
    checks: list[tuple[str, bool, str]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.fullmatch(r"([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)", part)
        if not m:
            raise bad_request(f"invalid field selector {part!r}: expected key=value or key!=value")
        checks.append((m.group(1), m.group(2) != "!=", m.group(3)))

    def match(obj: dict[str, Any]) -> bool:
        return all((_field_value(obj, path) == want) == equal for path, equal, want in checks)

    return match


def always(_: dict[str, Any]) -> bool:
    return True
