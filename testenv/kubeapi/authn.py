"""TokenReview and SubjectAccessReview, as the API server answers them for a delegated
authenticator/authorizer (what controller-runtime's metrics filter asks).

Tests say which bearer tokens exist (:meth:`Reviews.add_token`) and what each user or group
may do on non-resource URLs (:meth:`Reviews.allow`); everything else is unauthenticated or
denied. Reviews are never stored, like the real ones.
"""

from __future__ import annotations

import threading
from typing import Any

from .errors import ApiError

AUTHN_GROUP = "authentication.k8s.io"
AUTHZ_GROUP = "authorization.k8s.io"


class Reviews:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._allowed: set[tuple[str, str, str]] = set()  # (user or group, verb, path)
        self.calls: dict[str, int] = {"tokenreviews": 0, "subjectaccessreviews": 0}

    def add_token(self, token: str, user: str, groups: tuple[str, ...] = ()) -> None:
        with self._lock:
            self._tokens[token] = (user, tuple(groups))

    def allow(self, subject: str, verb: str, path: str) -> None:
        """``subject`` (a user name or a group) may ``verb`` the non-resource URL ``path``."""
        with self._lock:
            self._allowed.add((subject, verb, path))

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._allowed.clear()
            self.calls = {"tokenreviews": 0, "subjectaccessreviews": 0}

    def handles(self, method: str, group: str, version: str, rest: list[str]) -> bool:
        return (
            method == "POST"
            and version == "v1"
            and (
                (group == AUTHN_GROUP and rest == ["tokenreviews"])
                or (group == AUTHZ_GROUP and rest == ["subjectaccessreviews"])
            )
        )

    def answer(self, group: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("spec"), dict):
            raise ApiError(400, "BadRequest", "a review needs a spec")
        spec = body["spec"]
        if group == AUTHN_GROUP:
            return self._token_review(spec)
        return self._access_review(spec)

    def _token_review(self, spec: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls["tokenreviews"] += 1
            found = self._tokens.get(str(spec.get("token", "")))
        status: dict[str, Any] = {"authenticated": found is not None}
        if found is not None:
            user, groups = found
            status["user"] = {"username": user, "groups": [*groups, "system:authenticated"]}
        else:
            status["error"] = "invalid bearer token"
        return _review("authentication.k8s.io/v1", "TokenReview", spec, status)

    def _access_review(self, spec: dict[str, Any]) -> dict[str, Any]:
        attrs = spec.get("nonResourceAttributes") or {}
        subjects = [str(spec.get("user", "")), *[str(g) for g in spec.get("groups") or []]]
        verb, path = str(attrs.get("verb", "")), str(attrs.get("path", ""))
        with self._lock:
            self.calls["subjectaccessreviews"] += 1
            allowed = any((s, verb, path) in self._allowed for s in subjects)
        status: dict[str, Any] = {"allowed": allowed}
        if not allowed:
            status["reason"] = f"no rule allows {verb} on {path}"
        return _review("authorization.k8s.io/v1", "SubjectAccessReview", spec, status)


def _review(
    api_version: str, kind: str, spec: dict[str, Any], status: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": status,
    }
