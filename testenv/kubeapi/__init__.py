"""A Kubernetes API emulator for bmo's tests and the local demo: HTTP on a loopback address,
driven by the official ``kubernetes`` client and the real ``kubectl``.

In-process::

    from testenv.kubeapi import KubeAPIServer
    srv = KubeAPIServer(host="127.0.0.1", port=0, history_limit=1000).start()
    srv.install_crds_from_dir("config/crd/bases")
    srv.faults.conflict_next_writes(n=1, resource="baremetalhosts", verb="patch")
    srv.count_requests("PATCH", path_contains="/baremetalhosts/")
    srv.stop()

Standalone: ``python -m testenv.kubeapi --port 8080 --crds config/crd/bases`` (prints the URL,
serves until SIGTERM/SIGINT; loopback only). Faults over HTTP: ``POST /_emulator/faults``
with ``{"action": "gone_next_watches", "n": 1}``; ``GET /_emulator/requests``.

Modules: ``store`` (objects, resourceVersions, watch history, deletion and GC), ``admission``
(what a write must pass: names, metadata, Secrets, CRDs, structural schemas from
:mod:`bmo.api.schema`), ``watch`` (open watches and their queues), ``server`` (the emulator's
lifecycle), ``handler`` (HTTP routing, verbs, watch streams, Table output), ``discovery``
(discovery and OpenAPI v3), ``patches``, ``selectors``, ``tables``, ``faults``, ``protobuf``
(the few bodies kubectl sends as protobuf).

Where it differs from a kube-apiserver, on purpose:
- no authentication, admission webhooks, CEL rules (``x-kubernetes-validations`` is accepted
  and not evaluated), server-side apply (415), conversion between CRD versions (only
  ``apiVersion`` changes) or protobuf responses;
- strategic merge patch merges a list by key only when the patch carries
  ``$setElementOrder``/``$patch`` directives; otherwise lists are replaced;
- garbage collection and namespace cleanup happen synchronously within the delete;
  a CRD's deletion removes its objects at once, ignoring their finalizers;
- ``limit``/``continue`` page over the current state, not a snapshot.
"""

from .errors import ApiError
from .faults import Faults, RequestRecord
from .server import KubeAPIServer
from .store import Store

__all__ = ["ApiError", "Faults", "KubeAPIServer", "RequestRecord", "Store"]
