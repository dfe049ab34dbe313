"""Shared pytest configuration: hypothesis profiles and small, generic fixtures.

Hypothesis profiles (select with ``HYPOTHESIS_PROFILE=<name>``):

* ``fast`` (default): 25 examples per property, no deadline (JAX compiles on first
  call, which would trip hypothesis' per-example deadline).
* ``thorough``: 300 examples, for an occasional deeper local run.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import jax
import pytest
from hypothesis import HealthCheck, settings

from lepton_codesign import hw_models as hw

settings.register_profile(
    "fast", max_examples=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough", max_examples=300, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def load_script() -> Callable[[str, str], ModuleType]:
    """Load a script that is not part of the package (``benchmarks/``, ``examples/``) by
    its path relative to the repository, as module ``name`` (registered in
    ``sys.modules``, which dataclasses in the script need); the script's folder stays
    off ``sys.path`` (``benchmarks/compression.py`` would shadow a module jax imports).

    Example:
        >>> mod = load_script("benchmarks/paired.py", "paired")  # doctest: +SKIP
    """

    def load(relpath: str, name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, REPO / relpath)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="session")
def mixed_workload() -> hw.Workload:
    """Five small layers covering every layer kind the cost models see.

    A strided 3x3 conv, a depthwise conv (groups = channels), a 1x1 conv, an attention
    ``matmul`` (no stored weights, 4 heads) and a batch-1 dense layer.
    """
    layers = [
        hw.conv_layer("conv1", (16, 16), 3, 16, (3, 3), stride=2, padding=1),
        hw.conv_layer("dw", (8, 8), 16, 16, (3, 3), padding=1, groups=16),
        hw.conv_layer("pw", (8, 8), 16, 32, (1, 1)),
        {"name": "attn", "kind": "matmul", "m": 16, "k": 8, "n": 16, "groups": 4},
        {"name": "fc", "kind": "dense", "m": 1, "k": 2048, "n": 10},
    ]
    return hw.make_workload(layers, batch=1)


@pytest.fixture(scope="session")
def jit_evaluate():
    """``hw.evaluate`` under one shared ``jax.jit`` (``smooth`` static).

    Sharing the jitted function across test modules means each (workload, spec
    treedef, smooth) signature compiles once per session.
    """
    return jax.jit(hw.evaluate, static_argnames=("smooth",))
