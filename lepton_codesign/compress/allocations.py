"""Sparsity allocations: how a sparsity target is shared among the compressed layers.

* ``GlobalAllocation`` (``"global"``): one threshold over the scores of all layers of a
  group (layers compete; the target holds for the group's weight count). Learned gates
  start from one common logit scale (the ranking of global magnitude pruning).
* ``PerLayer`` (``"per_layer"``): every layer keeps its own ``1 - sparsity``.

Example:
    >>> import jax.numpy as jnp
    >>> s = [jnp.arange(4.0), jnp.arange(10.0, 14.0)]
    >>> [float(t) for t in PerLayer().thresholds(s, 0.5)]
    [2.0, 12.0]
    >>> [float(t) for t in GlobalAllocation().thresholds(s, 0.5)]
    [10.0, 10.0]
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from lepton_codesign.compress import masks as M
from lepton_codesign.compress.registry import ALLOCATIONS


class Allocation:
    """Base of the allocations (frozen dataclasses registered in ``ALLOCATIONS``).

    Attributes:
        shared_logit_scale: learned gates of the group start from one common scale.
    """

    name: ClassVar[str]
    shared_logit_scale: ClassVar[bool] = False

    def thresholds(self, scores: list[jax.Array], sparsity) -> list[jax.Array]:
        """Score thresholds (``keep = score >= t``) removing ``sparsity``, one per entry."""
        raise NotImplementedError

    def density_gap(self, densities: jax.Array, sizes: jax.Array, goal) -> jax.Array:
        """Squared gap between the layers' densities and ``goal`` (a scalar penalty)."""
        raise NotImplementedError


@ALLOCATIONS.register("global")
@dataclasses.dataclass(frozen=True)
class GlobalAllocation(Allocation):
    """One threshold over all layers of a group."""

    shared_logit_scale: ClassVar[bool] = True

    def thresholds(self, scores, sparsity):
        density = 1.0 - jnp.asarray(sparsity, jnp.float32)
        flat = jnp.concatenate([s.reshape(-1) for s in scores])
        t = M.density_threshold(flat, density)
        return [t for _ in scores]

    def density_gap(self, densities, sizes, goal):
        return (jnp.sum(densities * sizes) / jnp.sum(sizes) - goal) ** 2


@ALLOCATIONS.register("per_layer")
@dataclasses.dataclass(frozen=True)
class PerLayer(Allocation):
    """Every layer at the target."""

    def thresholds(self, scores, sparsity):
        density = 1.0 - jnp.asarray(sparsity, jnp.float32)
        return [M.density_threshold(s, density) for s in scores]

    def density_gap(self, densities, sizes, goal):
        return jnp.sum((densities - goal) ** 2)
