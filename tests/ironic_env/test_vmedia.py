"""DataImage virtual media through the real Ironic on a Redfish-virtualmedia host of
sushy-tools: the provisioner's attach, Ironic's vmedia GET as written, and detach
(``ironic.go AttachDataImage``, ``GetDataImageStatus``, ``DetachDataImage``)."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bmo.api.bmc import Credentials
from bmo.ironic.client import IronicClient
from bmo.ironic.config import IronicConfig
from bmo.ironic.provisioner import IronicProvisionerFactory
from bmo.provisioner import HostData, HostLocked
from testenv.ironic import SushyEmulator
from tests.fixtures.ironic import IronicFixture, unique_name

pytestmark = [pytest.mark.ironic, pytest.mark.sushy, pytest.mark.slow]

DEADLINE = 90.0


def wait_until(check: Callable[[], bool | None], what: str) -> None:
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        try:
            if check():
                return
        except HostLocked:
            pass  # Ironic holds the node while it inserts or ejects: look again.
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def iso_url(tmp_path: Path) -> Iterator[str]:
    """An ISO-named file served over HTTP on loopback (Ironic's vmedia API takes only
    http/https URLs; it downloads and republishes the image itself)."""
    (tmp_path / "data-image.iso").write_bytes(b"CD001" + bytes(64 * 1024))
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/data-image.iso"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_attach_get_and_detach_a_data_image(
    ironic: IronicFixture, sushy: SushyEmulator, iso_url: str
) -> None:
    system = sushy.systems[2]
    conn = ironic.connection()
    node = conn.baremetal.create_node(
        name=unique_name("vmedia"),
        driver="redfish",
        boot_interface="redfish-virtual-media",
        driver_info={
            "redfish_address": sushy.url,
            "redfish_system_id": sushy.system_path(system.uuid),
            "redfish_username": "admin",
            "redfish_password": "unused-by-the-emulator",
        },
    )
    client = IronicClient(IronicConfig.from_env(ironic.process.env()))
    try:
        conn.baremetal.set_node_provision_state(node, "manage", wait=True, timeout=90)
        factory = IronicProvisionerFactory(client, client.config)
        prov = factory.new(
            HostData(
                namespace="ns",
                name="vmedia",
                provisioner_id=node.id,
                bmc_address=f"redfish-virtualmedia://127.0.0.1/redfish/v1/Systems/{system.uuid}",
                bmc_credentials=Credentials("admin", "unused"),
            ),
            lambda reason, message: None,
        )
        wait_until(lambda: not prov.get_data_image_status(), "an empty drive")

        prov.attach_data_image(iso_url)
        wait_until(prov.get_data_image_status, "the image to be inserted")
        media = client.get_virtual_media(node.id)
        cd = [entry for entry in media if entry.get("inserted")]
        assert cd, media
        # Ironic republishes the image: the GET shows its own URL, never the one attached.
        assert cd[0].get("image") != iso_url

        prov.detach_data_image()
        wait_until(lambda: not prov.get_data_image_status(), "the image to be ejected")
    finally:
        conn.baremetal.delete_node(node.id, ignore_missing=True)
