"""The one BareMetalHost informer every controller reads hosts from.

Upstream runs one manager cache per process; a shard of bmo (``--host-label-selector``) lists
and watches only its hosts. Every controller that looks hosts up must use this same informer,
so a shard never acts on another shard's host through a second, unselected watch - and a
host that is missing from a sharded cache may simply belong to another shard.
"""

from __future__ import annotations

from typing import Final

from bmo.api.constants import API_GROUP, API_VERSION, BMH_KIND, BMH_PLURAL
from bmo.runtime.informer import Informer, Resource
from bmo.runtime.manager import Manager
from bmo.runtime.settings import DEFAULT_SYNC_PERIOD
from bmo.settings import Settings

__all__ = ["BAREMETALHOSTS", "host_informer", "sharded"]

BAREMETALHOSTS: Final = Resource(API_GROUP, API_VERSION, BMH_PLURAL, BMH_KIND)


def host_informer(manager: Manager, settings: Settings) -> Informer:
    """The manager's BareMetalHost informer, limited to this shard's hosts."""
    return manager.informer(
        BAREMETALHOSTS,
        label_selector=settings.controller.host_label_selector or None,
        resync_period=DEFAULT_SYNC_PERIOD,
    )


def sharded(settings: Settings) -> bool:
    """Whether hosts outside this process's cache may exist and belong to another shard."""
    return bool(settings.controller.host_label_selector)
