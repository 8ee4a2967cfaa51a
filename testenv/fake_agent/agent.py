""":class:`FakeAgent`: the ramdisk fleet, answering every agent inspection Ironic waits for.

It polls Ironic's node list and answers every ``fake-hardware`` node that waits in
``inspect wait`` with an inventory derived from the node's name, so the sandbox, the
benchmarks and tests get real inspection data without anyone posting by hand.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testenv.fake_agent.inventory import (
    CONTINUE_INSPECTION_VERSION,
    FakeAgentError,
    FakeHardware,
    hardware_for,
    post_inventory,
)

PREFERRED_API_VERSION = "1.110"
"""The newest microversion the agent asks for (what bmo asks for); older Ironics get theirs."""

log = logging.getLogger(__name__)


def _version_tuple(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)


@dataclass(frozen=True)
class Inspection:
    """One inventory the agent posted: which node, which port MAC, what it claimed."""

    uuid: str
    name: str
    mac: str
    hardware: FakeHardware
    posted_at: float
    post_seconds: float
    """How long Ironic took to accept the post (its load shows here first)."""


InspectCallback = Callable[[Inspection], None]

MAX_ATTEMPTS = 5
"""Posts tried per inspection before the agent gives up on it (Ironic keeps refusing)."""


class FakeAgent:
    """Answers agent inspection for every ``fake-hardware`` node, as its ramdisk would.

    Each poll lists the nodes (one request, paged by Ironic's ``next`` link) and posts an
    inventory for each node in ``inspect wait`` with ``inspect_interface == "agent"`` that it
    has not answered yet. An inspection is identified by the node's UUID plus its
    ``inspection_started_at``, so a node re-inspected later is answered again, while a node
    still in ``inspect wait`` after a successful post (Ironic processes it asynchronously)
    is not posted twice. A failed post is retried on the next poll, up to ``MAX_ATTEMPTS``.
    Posts go out from up to ``workers`` threads at once, as independent ramdisks would.
    """

    NODE_FIELDS = (
        "uuid",
        "name",
        "provision_state",
        "driver",
        "inspect_interface",
        "inspection_started_at",
    )

    def __init__(
        self,
        ironic_url: str,
        credentials: tuple[str, str] | None,
        *,
        interval: float = 1.0,
        timeout: float = 30.0,
        workers: int = 8,
        on_inspect: InspectCallback | None = None,
    ) -> None:
        self.ironic_url = ironic_url.rstrip("/")
        self.workers = workers
        self._credentials = credentials
        self.interval = interval
        self.timeout = timeout
        self.on_inspect = on_inspect
        self.api_version: str | None = None
        self.inspections: list[Inspection] = []
        self.last_error: str | None = None
        self._answered: set[tuple[str, str]] = set()
        self._attempts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        # Never the credentials.
        return f"FakeAgent(ironic_url={self.ironic_url!r}, interval={self.interval})"

    # -- lifecycle

    def start(self) -> FakeAgent:
        """Run in a daemon thread until :meth:`stop`."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run, args=(self._stop,), name="fake-agent", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread and wait for it; a poll in flight finishes first."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise FakeAgentError(f"the fake agent thread did not stop within {timeout} s")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set. Errors are logged and kept in ``last_error``: Ironic
        restarting under the agent must not kill it."""
        while not stop.is_set():
            try:
                self.poll_once()
            except (FakeAgentError, OSError, ValueError) as exc:
                if str(exc) != self.last_error:
                    log.warning("fake agent poll failed: %s", exc)
                self.last_error = str(exc)
            stop.wait(self.interval)

    # -- one round

    def poll_once(self) -> list[Inspection]:
        """List the nodes once and answer every new inspection; returns what was posted."""
        if self.api_version is None:
            self.api_version = self.negotiate_version()
        waiting = [
            node
            for node in self.list_nodes()
            if node.get("provision_state") == "inspect wait"
            and node.get("driver") == "fake-hardware"
            and node.get("inspect_interface") == "agent"
        ]
        keys = {(str(n["uuid"]), str(n.get("inspection_started_at"))) for n in waiting}
        with self._lock:
            # Forget inspections that ended so the bookkeeping stays as small as the fleet.
            self._answered &= keys
            self._attempts = {k: v for k, v in self._attempts.items() if k in keys}
        todo = []
        for node in waiting:
            key = (str(node["uuid"]), str(node.get("inspection_started_at")))
            with self._lock:
                if key not in self._answered and self._attempts.get(key, 0) < MAX_ATTEMPTS:
                    todo.append((node, key))
        if len(todo) <= 1 or self.workers <= 1:
            answers = [self._answer(node, key) for node, key in todo]
        else:
            # Ramdisks are independent machines: under load one post can take seconds, and
            # answering a fleet one by one would make inspection look as slow as the fleet.
            with ThreadPoolExecutor(min(self.workers, len(todo))) as pool:
                answers = list(pool.map(lambda item: self._answer(*item), todo))
        return [a for a in answers if a is not None]

    def _answer(self, node: dict[str, Any], key: tuple[str, str]) -> Inspection | None:
        uuid = str(node["uuid"])
        name = str(node.get("name") or uuid)
        with self._lock:
            self._attempts[key] = self._attempts.get(key, 0) + 1
        try:
            macs = self.port_macs(uuid)
            if not macs:
                raise FakeAgentError(f"node {name} has no port: nothing to report as its NIC")
            hardware = hardware_for(name)
            started = time.monotonic()
            post_inventory(
                self.ironic_url,
                name.rsplit("~", 1)[-1],
                macs[0],
                hardware,
                timeout=self.timeout,
            )
        except FakeAgentError as exc:
            log.warning("fake agent: inspection of %s not answered: %s", name, exc)
            self.last_error = str(exc)
            return None
        inspection = Inspection(
            uuid, name, macs[0], hardware, time.time(), time.monotonic() - started
        )
        with self._lock:
            self._answered.add(key)
            self.inspections.append(inspection)
        log.info(
            "fake agent: posted the inventory of %s (%s) in %.2f s",
            name,
            macs[0],
            inspection.post_seconds,
        )
        if self.on_inspect is not None:
            self.on_inspect(inspection)
        return inspection

    # -- Ironic API

    def negotiate_version(self) -> str:
        """The newest microversion both sides know; Ironic must offer continue_inspection."""
        status, body = self._get("/", auth=False)
        if status != 200:
            raise FakeAgentError(f"GET {self.ironic_url}/ answered {status}", status)
        versions = json.loads(body).get("versions") or [{}]
        server_max = str(versions[0].get("version") or "1.1")
        if _version_tuple(server_max) < _version_tuple(CONTINUE_INSPECTION_VERSION):
            raise FakeAgentError(
                f"Ironic at {self.ironic_url} offers API {server_max}; agent inspection "
                f"needs {CONTINUE_INSPECTION_VERSION} or newer"
            )
        return min(server_max, PREFERRED_API_VERSION, key=_version_tuple)

    def list_nodes(self) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"fields": ",".join(self.NODE_FIELDS), "limit": 1000})
        path: str | None = f"/v1/nodes?{query}"
        nodes: list[dict[str, Any]] = []
        while path:
            status, body = self._get(path)
            if status != 200:
                raise FakeAgentError(f"listing nodes answered {status}", status)
            page = json.loads(body)
            nodes.extend(page.get("nodes", []))
            path = self._relative(page.get("next"))
        return nodes

    def port_macs(self, uuid: str) -> list[str]:
        query = urllib.parse.urlencode({"node_uuid": uuid, "fields": "address"})
        status, body = self._get(f"/v1/ports?{query}")
        if status != 200:
            raise FakeAgentError(f"listing the ports of node {uuid} answered {status}", status)
        return sorted(str(p["address"]).lower() for p in json.loads(body).get("ports", []))

    def _relative(self, link: str | None) -> str | None:
        """Ironic's ``next`` is absolute (its public endpoint); keep our own base URL."""
        if not link:
            return None
        parsed = urllib.parse.urlsplit(link)
        return parsed.path + (f"?{parsed.query}" if parsed.query else "")

    def _get(self, path: str, *, auth: bool = True) -> tuple[int, bytes]:
        request = urllib.request.Request(self.ironic_url + path)
        if self.api_version is not None:
            request.add_header("X-OpenStack-Ironic-API-Version", self.api_version)
        if auth and self._credentials is not None:
            user, password = self._credentials
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read()
        except OSError as exc:
            raise FakeAgentError(f"could not reach Ironic at {self.ironic_url}: {exc}") from exc


def read_auth_dir(auth_dir: Path) -> tuple[str, str]:
    """Metal3's ``METAL3_AUTH_ROOT_DIR`` layout: ``<dir>/ironic/{username,password}``."""
    try:
        username = (auth_dir / "ironic" / "username").read_text().strip()
        password = (auth_dir / "ironic" / "password").read_text().strip()
    except OSError as exc:
        raise FakeAgentError(
            f"cannot read Ironic credentials from {auth_dir}/ironic/{{username,password}}: "
            f"{exc.strerror}"
        ) from None
    return username, password
