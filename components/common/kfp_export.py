"""Lets `from distml.components.<name> import <name>` give the KFP component, as pipelines
use it, while importing the package (and its plain-Python core) does not import KFP."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def kfp_component_getattr(package: str, component_name: str) -> Callable[[str], object]:
    """A module `__getattr__` that loads `<package>.component.<component_name>` on first use."""

    def __getattr__(name: str) -> object:
        if name == component_name:
            return getattr(importlib.import_module(f"{package}.component"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
