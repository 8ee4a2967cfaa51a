"""YAML read the way kubectl reads it: no YAML 1.1 base-60 integers, so an all-digit MAC
address such as ``52:54:00:12:34:56`` stays a string."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml


class KubeYamlLoader(yaml.SafeLoader):
    pass


KubeYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:int"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
KubeYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(
        r"""^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$""",
        re.X,
    ),
    list("-+0123456789"),
)


def load(text: str | bytes) -> Any:
    return yaml.load(text, Loader=KubeYamlLoader)


def load_all(text: str | bytes) -> Iterator[Any]:
    return yaml.load_all(text, Loader=KubeYamlLoader)
