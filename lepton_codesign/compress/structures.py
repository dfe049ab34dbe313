"""Sparsity structures: which weights a mask entry covers, and how scores become masks.

* ``Unstructured``: one mask entry per weight, kept by a score threshold.
* ``NM(n, m)``: a fixed pattern, the ``n`` best of every ``m`` consecutive weights
  along the reduction dimension (density ``n / m``; no sparsity target).
* ``Channel``: one entry per output channel, scored by the channel's L2 norm.

Masks and scores live in GEMM layout (``masks.to_gemm``): ``(K, N)``, or ``(N,)`` for
channels. ``code`` is the structure's code in ``hw_models.Compression``.

Example:
    >>> import jax.numpy as jnp
    >>> STRUCTURES.resolve("nm", {"n": 1, "m": 2}).pattern(jnp.array([[1.0], [3.0]])).tolist()
    [[0.0], [1.0]]
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp

from lepton_codesign.compress import masks as M
from lepton_codesign.compress.registry import STRUCTURES
from lepton_codesign.hw_models.compression import STRUCTURES as HW_CODES


class Structure:
    """Base of the sparsity structures (frozen dataclasses registered in ``STRUCTURES``).

    Attributes:
        name: the registered name (also the export format's ``structure``).
        has_pattern: the mask is a fixed pattern (``pattern``), not a density target.
    """

    name: ClassVar[str]
    has_pattern: ClassVar[bool] = False

    @property
    def code(self) -> int:
        """The structure code of ``hw_models.Compression``."""
        return HW_CODES[self.name]

    @property
    def nm(self) -> tuple[int, int]:
        """``(N, M)`` as exports and ``Compression.nm_m`` record them (2:4 unless N:M)."""
        return 2, 4

    def mask_shape(self, gemm_shape: tuple[int, int]) -> tuple[int, ...]:
        """Shape of a mask over a ``(K, N)`` kernel."""
        return tuple(gemm_shape)

    def magnitude(self, kernel_gemm: jax.Array) -> jax.Array:
        """Magnitude scores of a ``(K, N)`` kernel, in mask shape."""
        return jnp.abs(kernel_gemm)

    def pattern(self, scores: jax.Array) -> jax.Array | None:
        """The fixed 0/1 pattern chosen by ``scores`` (``None``: no pattern)."""
        return None

    def index_bits(self, nnz: int, numel: int, cols: int, index_bits: int) -> int:
        """Bits locating the ``nnz`` kept of ``numel`` weights (``cols`` channels):
        the cheaper of a bitmap and ``index_bits`` relative indices per non-zero
        (EIE's 4-bit run-length indices, Han et al. 2016 [C])."""
        return min(numel, nnz * index_bits)


@STRUCTURES.register("unstructured")
@dataclasses.dataclass(frozen=True)
class Unstructured(Structure):
    """One mask entry per weight."""


@STRUCTURES.register("nm")
@dataclasses.dataclass(frozen=True)
class NM(Structure):
    """Keep ``n`` of every ``m`` consecutive weights along the reduction dimension.

    Attributes:
        n, m: the N:M pattern (``0 < n <= m``).
    """

    n: int = 2
    m: int = 4
    has_pattern: ClassVar[bool] = True

    def __post_init__(self):
        if isinstance(self.n, bool) or isinstance(self.m, bool) or not (
                isinstance(self.n, int) and isinstance(self.m, int)) or self.n < 1 \
                or self.m < 1:
            raise ValueError(f"N:M needs positive integers, got N={self.n!r}, M={self.m!r}")
        if self.n > self.m:
            raise ValueError(f"N:M sparsity needs N <= M, got N={self.n} > M={self.m}")

    @property
    def nm(self) -> tuple[int, int]:
        return self.n, self.m

    def pattern(self, scores: jax.Array) -> jax.Array:
        return M.nm_mask(scores, self.n, self.m)

    def index_bits(self, nnz, numel, cols, index_bits):
        """``ceil(log2 M)`` bits per non-zero (its position in its group)."""
        return nnz * math.ceil(math.log2(max(self.m, 2)))


@STRUCTURES.register("channel")
@dataclasses.dataclass(frozen=True)
class Channel(Structure):
    """One mask entry per output channel, scored by the channel's L2 norm."""

    def mask_shape(self, gemm_shape: tuple[int, int]) -> tuple[int, ...]:
        return tuple(gemm_shape[-1:])

    def magnitude(self, kernel_gemm: jax.Array) -> jax.Array:
        return M.channel_scores(kernel_gemm)

    def index_bits(self, nnz, numel, cols, index_bits):
        """A one-bit-per-channel map."""
        return cols
