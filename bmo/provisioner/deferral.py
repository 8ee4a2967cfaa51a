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

Power changes are the exception (``converges=True``). Every pass reads the power state back
from the backend and compares it with ``spec.online`` (``manageHostPower``), so a power
change made ahead of the saved state is met again, as already done, by whichever pass
replays the step. A later step may make one, and :class:`StepActions` counts them, so the
reconciler can run one more step to read the result back: a host reaching ``available`` is
then saved once, already powered on, where upstream's separate passes write twice.

So is what registration keeps in line (``register.go Register`` runs before every state's
handler: the node's configuration, its ports). A later step replayed from the saved state
registers again and finds that work done, so it need not wait for a pass of its own; but it
changes nothing the host's status shows, so it is not counted (``observed=False``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ActionDeferred", "StepActions", "actions_deferred", "check_action"]


class ActionDeferred(BaseException):
    """A step running under :func:`actions_deferred` reached an action on the backend.

    A ``BaseException``: no ``except Exception`` on the way (error translation, retries, the
    state machine's error handling) may turn it into a failure recorded on the host.
    """

    def __init__(self, action: str) -> None:
        super().__init__(action)
        self.action = action


_local = threading.local()


class StepActions:
    """What one step did to the backend that was not deferred."""

    def __init__(self) -> None:
        #: Converging (power) changes made.
        self.converging = 0


@contextmanager
def actions_deferred(defer: bool = True) -> Iterator[StepActions]:
    """Within this block (this thread only), :func:`check_action` raises for every change
    but a converging one (``defer`` False: for none); converging changes are counted."""
    previous = getattr(_local, "deferring", False), getattr(_local, "step", None)
    step = StepActions()
    _local.deferring, _local.step = defer, step
    try:
        yield step
    finally:
        _local.deferring, _local.step = previous


def check_action(action: str, *, converges: bool = False, observed: bool = True) -> None:
    """Called by a provisioner before it changes anything on its backend; ``converges``
    for a change every pass converges on whatever the saved state says (a power change,
    registration's), which is never deferred; ``observed`` (the default) when the host's
    status reads its result back, so the step that made it is counted."""
    if converges:
        step = getattr(_local, "step", None)
        if step is not None and observed:
            step.converging += 1
        return
    if getattr(_local, "deferring", False):
        raise ActionDeferred(action)
