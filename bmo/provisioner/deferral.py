"""Deferring provisioner actions: how one reconcile runs several state-machine steps safely.

Upstream saves the host's status after every state-machine step and runs the next step from
the saved host (``baremetalhost_controller.go Reconcile`` returns ``Requeue: true`` after
each ``actionResult``). bmo runs the steps that need no waiting back to back and saves once,
which spares a status write and a round trip per step, but only while a later step does not
*act* on the backend: a process killed between such an action and the one write would leave
the saved state behind the backend's (``preparing`` saved over a node already deploying).

So a later step runs inside :func:`actions_deferred`. It may read from the backend freely;
the first call that would change something (an Ironic POST/PATCH/PUT/DELETE, a fixture
operation starting) raises :class:`ActionDeferred` before it is sent. The reconciler then
saves what the earlier steps decided and comes back at once: the deferred step runs again
as the first step of the next pass, from saved state, exactly as upstream would run it.

Every provisioner implementation calls :func:`check_action` before each change it makes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ActionDeferred", "actions_deferred", "check_action"]


class ActionDeferred(BaseException):
    """A step running under :func:`actions_deferred` reached an action on the backend.

    A ``BaseException``: no ``except Exception`` on the way (error translation, retries, the
    state machine's error handling) may turn it into a failure recorded on the host.
    """

    def __init__(self, action: str) -> None:
        super().__init__(action)
        self.action = action


_local = threading.local()


@contextmanager
def actions_deferred() -> Iterator[None]:
    """Within this block (this thread only), :func:`check_action` raises."""
    previous = getattr(_local, "deferring", False)
    _local.deferring = True
    try:
        yield
    finally:
        _local.deferring = previous


def check_action(action: str) -> None:
    """Called by a provisioner before it changes anything on its backend."""
    if getattr(_local, "deferring", False):
        raise ActionDeferred(action)
