"""Hypothesis strategies for hostile input: JSON values, annotation texts (deep, huge
numbers, wrong shapes) and BareMetalHost documents built by mutating a valid one."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from bmo.api.constants import (
    DETACHED_ANNOTATION,
    HARDWARE_DETAILS_ANNOTATION,
    INSPECT_ANNOTATION,
    REBOOT_ANNOTATION,
    STATUS_ANNOTATION,
    OperationalStatus,
    ProvisioningState,
)

JSON_ANNOTATIONS = (
    STATUS_ANNOTATION,
    DETACHED_ANNOTATION,
    HARDWARE_DETAILS_ANNOTATION,
    REBOOT_ANNOTATION,
    REBOOT_ANNOTATION + "/fuzz",
)
ANNOTATION_KEYS = (*JSON_ANNOTATIONS, INSPECT_ANNOTATION, "example.com/other")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)

# Values a real annotation of that kind would hold, so the rules past decoding run too.
_plausible = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "deleteAction": st.sampled_from(["delay", "delete", "", "later", 1]),
            "force": st.one_of(st.booleans(), st.text(max_size=3)),
            "mode": st.sampled_from(["hard", "soft", "", "x"]),
            "operationalStatus": st.sampled_from([*OperationalStatus.ALL, "bogus"]),
            "errorType": st.sampled_from(["", "provisioning error", "bogus"]),
            "provisioning": st.fixed_dictionaries(
                {}, optional={"state": st.sampled_from(ProvisioningState.ALL)}
            ),
            "cpu": st.fixed_dictionaries({}, optional={"arch": st.text(max_size=8)}),
            "ramMebibytes": st.integers(),
        },
    ).map(json.dumps)
)

hostile_texts = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    _plausible,
    st.integers(min_value=1, max_value=5000).map(lambda n: "[" * n + "]" * n),
    st.integers(min_value=1, max_value=3000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.integers(min_value=1, max_value=3000).map(lambda n: "[" * n),
    st.integers(min_value=300, max_value=6000).map(lambda n: "9" * n),
    st.integers(min_value=300, max_value=6000).map(
        lambda n: '{"deleteAction": "delay", "force": ' + "1" * n + "}"
    ),
)

annotations = st.dictionaries(st.sampled_from(ANNOTATION_KEYS), hostile_texts, max_size=3)

SPEC_KEYS = (
    "online",
    "bmc",
    "bootMACAddress",
    "bootMode",
    "image",
    "rootDeviceHints",
    "raid",
    "firmware",
    "networkInterfaces",
    "customDeploy",
    "userData",
    "externallyProvisioned",
    "inspectionMode",
    "architecture",
    "automatedCleaningMode",
    "unknownField",
)


def valid_host(name: str = "fuzz-0") -> dict[str, Any]:
    return {
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": {"name": name, "namespace": "fuzz", "uid": "uid-fuzz", "annotations": {}},
        "spec": {
            "online": True,
            "bootMACAddress": "00:00:5e:00:53:01",
            "bmc": {"address": "ipmi://192.0.2.1", "credentialsName": "bmc-secret"},
        },
    }


@st.composite
def host_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid host with some spec fields replaced by arbitrary JSON, hostile annotations,
    and sometimes a status (a real state, or garbage) and a deletion timestamp."""
    doc = valid_host()
    for key in draw(st.lists(st.sampled_from(SPEC_KEYS), max_size=3, unique=True)):
        doc["spec"][key] = draw(json_values)
    doc["metadata"]["annotations"] = draw(annotations)
    if draw(st.booleans()):
        doc["status"] = draw(
            st.one_of(
                st.fixed_dictionaries(
                    {
                        "provisioning": st.fixed_dictionaries(
                            {"state": st.sampled_from(ProvisioningState.ALL)}
                        ),
                        "operationalStatus": st.sampled_from(OperationalStatus.ALL),
                    }
                ),
                json_values,
            )
        )
    if draw(st.booleans()):
        doc["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        doc["metadata"]["finalizers"] = ["metal3.io/baremetalhost"]
    if draw(st.integers(0, 9)) == 0:
        doc["metadata"] = draw(json_values)
    return doc
