"""Standard multi-objective test problems, as (space, objective) pairs.

* ZDT1, ZDT2, ZDT3 (Zitzler, Deb & Thiele 2000): two objectives, ``n_var`` reals in
  [0, 1]; convex, concave and disconnected fronts at ``g = 1``.
* DTLZ2 (Deb, Thiele, Laumanns & Zitzler 2002): ``n_obj`` objectives, front on the
  positive unit sphere.
* ``asic_resnet18``: hardware problem: a ResNet-18 workload (ImageNet 224x224,
  batch 1) on the ASIC space of ``search.hardware``, objectives latency / energy /
  area, evaluated by ``jit(vmap(hw_models.evaluate))``.

Objectives take a design batch ``{"x": (n, n_var)}`` and accept ``smooth=`` (they are
smooth already). ``pareto_front(n)`` samples the true front, for reference
hypervolumes.

Example:
    >>> import jax.numpy as jnp
    >>> p = zdt1(n_var=3)
    >>> p.objective({"x": jnp.array([[0.25, 0.0, 0.0]])}).tolist()
    [[0.25, 0.5]]
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lepton_codesign.search.space import Real, Space


class TestProblem(NamedTuple):
    """A benchmark problem: where to search, what to minimise, how to measure it."""

    name: str
    space: Space
    objective: Callable
    ref_point: np.ndarray
    pareto_front: Callable[[int], np.ndarray] | None = None
    objective_names: tuple[str, ...] = ()


def _sqrt0(x):
    """sqrt with value 0 and zero gradient at 0 (exact values, finite gradients)."""
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def _zdt(name: str, n_var: int, h, front_f2) -> TestProblem:
    if n_var < 2:
        raise ValueError(f"{name} needs n_var >= 2, got {n_var}")

    @functools.partial(jax.jit, static_argnames="smooth")
    def objective(designs, smooth: bool = False):
        x = jnp.asarray(designs["x"], jnp.float32)
        f1 = x[:, 0]
        g = 1.0 + 9.0 * jnp.mean(x[:, 1:], axis=1)
        return jnp.stack([f1, g * h(f1 / g, f1)], axis=1)

    def pareto_front(n: int) -> np.ndarray:
        f1 = np.linspace(0.0, 1.0, n)
        pts = np.stack([f1, front_f2(f1)], 1)
        return pts[_nondominated_np(pts)]

    return TestProblem(name, Space({"x": Real(0.0, 1.0, size=n_var)}), objective,
                       np.array([1.1, 1.1], np.float32), pareto_front, ("f1", "f2"))


def zdt1(n_var: int = 30) -> TestProblem:
    """ZDT1: convex front ``f2 = 1 - sqrt(f1)``."""
    return _zdt("zdt1", n_var, lambda r, f1: 1.0 - _sqrt0(r), lambda f1: 1.0 - np.sqrt(f1))


def zdt2(n_var: int = 30) -> TestProblem:
    """ZDT2: concave front ``f2 = 1 - f1^2``."""
    return _zdt("zdt2", n_var, lambda r, f1: 1.0 - r ** 2, lambda f1: 1.0 - f1 ** 2)


def zdt3(n_var: int = 30) -> TestProblem:
    """ZDT3: disconnected front ``f2 = 1 - sqrt(f1) - f1 sin(10 pi f1)``.

    The reference point is (1.1, 1.1) as for ZDT1/2; the front's f2 reaches -0.77.
    """
    return _zdt("zdt3", n_var,
                lambda r, f1: 1.0 - _sqrt0(r) - r * jnp.sin(10.0 * jnp.pi * f1),
                lambda f1: 1.0 - np.sqrt(f1) - f1 * np.sin(10.0 * np.pi * f1))


def dtlz2(n_obj: int = 3, n_var: int = 12) -> TestProblem:
    """DTLZ2 with ``n_obj`` objectives; front = positive part of the unit sphere."""
    if n_var < n_obj:
        raise ValueError(f"dtlz2 needs n_var >= n_obj, got {n_var} < {n_obj}")

    @functools.partial(jax.jit, static_argnames="smooth")
    def objective(designs, smooth: bool = False):
        x = jnp.asarray(designs["x"], jnp.float32)
        g = jnp.sum((x[:, n_obj - 1:] - 0.5) ** 2, axis=1)
        theta = x[:, : n_obj - 1] * (jnp.pi / 2)
        cos, sin = jnp.cos(theta), jnp.sin(theta)
        cum = jnp.cumprod(jnp.concatenate([jnp.ones_like(g)[:, None], cos], 1), axis=1)
        # f_i = (1+g) * prod_{j < n_obj-1-i} cos(theta_j) * sin(theta_{n_obj-1-i}) (i > 0)
        fs = [cum[:, n_obj - 1]]
        for i in range(1, n_obj):
            fs.append(cum[:, n_obj - 1 - i] * sin[:, n_obj - 1 - i])
        return (1.0 + g)[:, None] * jnp.stack(fs, 1)

    def pareto_front(n: int) -> np.ndarray:
        pts = np.abs(np.random.default_rng(0).normal(size=(n, n_obj)))
        return pts / np.linalg.norm(pts, axis=1, keepdims=True)

    return TestProblem(f"dtlz2_{n_obj}obj", Space({"x": Real(0.0, 1.0, size=n_var)}),
                       objective, np.full(n_obj, 1.1, np.float32), pareto_front,
                       tuple(f"f{i + 1}" for i in range(n_obj)))


def resnet18_layers(image: int = 224, batch: int = 1, num_classes: int = 1000) -> list[dict]:
    """Per-layer dicts of ResNet-18 (He et al. 2016): 20 convolutions + the classifier."""
    from lepton_codesign.hw_models import conv_layer

    layers = [conv_layer("conv1", (image, image), 3, 64, (7, 7), stride=2, padding=3,
                         batch=batch)]
    hw = (image + 2 * 3 - 7) // 2 + 1
    hw = (hw + 2 * 1 - 3) // 2 + 1  # 3x3/2 max-pool
    ch = 64
    for stage, out_ch in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if (stage > 1 and block == 0) else 1
            pre = f"layer{stage}/{block}"
            layers.append(conv_layer(f"{pre}/conv1", (hw, hw), ch, out_ch, (3, 3),
                                     stride=stride, padding=1, batch=batch))
            out_hw = (hw + 2 - 3) // stride + 1
            layers.append(conv_layer(f"{pre}/conv2", (out_hw, out_hw), out_ch, out_ch, (3, 3),
                                     padding=1, batch=batch))
            if stride != 1 or ch != out_ch:
                layers.append(conv_layer(f"{pre}/downsample", (hw, hw), ch, out_ch, (1, 1),
                                         stride=stride, batch=batch))
            hw, ch = out_hw, out_ch
    layers.append({"name": "fc", "kind": "dense", "m": batch, "k": ch, "n": num_classes})
    return layers


def asic_resnet18(batch: int = 1) -> TestProblem:
    """ResNet-18 (224x224, batch 1) on ``search.hardware.asic_space()``.

    Objectives: ``total_latency_s``, ``total_energy_j``, ``area_mm2``; designs the cost
    model marks infeasible (die larger than the wafer limit) violate a constraint.
    The reference point is fixed a priori (1 s, 1 J, 1000 mm^2), above every design
    of the space's corners.
    """
    from lepton_codesign.hw_models import make_workload
    from lepton_codesign.search.hardware import asic_objective, asic_space

    wl = make_workload(resnet18_layers(batch=batch), batch=batch)
    names = ("total_latency_s", "total_energy_j", "area_mm2")
    return TestProblem("asic_resnet18", asic_space(), asic_objective(wl, objectives=names),
                       np.array([1.0, 1.0, 1000.0], np.float32), None, names)


def _nondominated_np(pts: np.ndarray) -> np.ndarray:
    le = np.all(pts[:, None] <= pts[None], -1) & np.any(pts[:, None] < pts[None], -1)
    return ~le.any(0)


__all__ = ["TestProblem", "asic_resnet18", "dtlz2", "resnet18_layers", "zdt1", "zdt2", "zdt3"]
