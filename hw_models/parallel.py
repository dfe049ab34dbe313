"""Tensor / pipeline / data-parallel splits of an LLM step across devices.

``Parallelism(tp, pp, dp, microbatches)`` is ``tp x pp x dp`` devices of one spec:

* **tensor parallel** (Megatron-LM, Shoeybi et al. 2019, arXiv:1909.08053): every layer is
  split by its ``LlmWorkload.tp_roles`` entry: ``column`` keeps ``n / tp`` outputs,
  ``row`` keeps ``k / tp`` of the reduction and all-reduces its output, ``heads`` keeps
  ``groups / tp`` attention (KV-)head groups, ``replicated`` runs whole on every device.
  Non-GEMM op groups after a ``column`` or ``heads`` layer work on split tensors
  (``1 / tp`` of their elements) [A]; the others on the replicated (all-reduced) ones.
* **pipeline parallel** (GPipe, Huang et al. 2019, arXiv:1811.06965): ``pp`` stages of
  ``ceil(n_layers / pp)`` decoder blocks at most; the batch is cut into ``microbatches``
  and a step takes ``(m + p - 1)`` stage times plus ``p - 1`` activation sends: the
  bubble is ``(p - 1) / (m + p - 1)`` of it.
* **data parallel**: ``dp`` independent replicas (inference needs no gradient
  all-reduce): throughput and devices times ``dp``.

Example:
    >>> par = Parallelism(tp=2, pp=4, microbatches=4)
    >>> par.devices, bubble_fraction(4, 4)
    (8, 0.42857142857142855)
"""

from __future__ import annotations

import dataclasses
import math
import re

import jax.numpy as jnp
import numpy as np

from lepton_codesign.hw_models.llm_workload import LlmWorkload
from lepton_codesign.hw_models.schema import SpecError
from lepton_codesign.hw_models.vector_ops import VectorOps
from lepton_codesign.hw_models.workload import Workload


@dataclasses.dataclass(frozen=True)
class Parallelism:
    """How one model replica is split, and how many replicas serve.

    Attributes:
        tp: tensor-parallel devices per stage.
        pp: pipeline stages.
        dp: data-parallel replicas.
        microbatches: micro-batches the batch is cut into for the pipeline (divides the
            batch; 1 = the whole batch goes through the stages in turn).
    """

    tp: int = 1
    pp: int = 1
    dp: int = 1
    microbatches: int = 1

    def __post_init__(self):
        for f in ("tp", "pp", "dp", "microbatches"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise SpecError(f"Parallelism.{f}: {v!r} is not allowed; allowed: an "
                                "integer >= 1")

    @property
    def devices(self) -> int:
        """All devices: ``tp x pp x dp``."""
        return self.tp * self.pp * self.dp

    def check(self, llm: LlmWorkload) -> Parallelism:
        """Raise ``SpecError`` (saying why) if the split does not fit ``llm``."""
        s = llm.shape
        if s.n_heads % self.tp or s.n_kv_heads % self.tp:
            raise SpecError(
                f"Parallelism.tp: {self.tp} does not divide the {s.name!r} heads "
                f"(n_heads={s.n_heads}, n_kv_heads={s.n_kv_heads}); allowed: a common "
                f"divisor of both, e.g. one of {_divisors(math.gcd(s.n_heads, s.n_kv_heads))}")
        if self.pp > s.n_layers:
            raise SpecError(f"Parallelism.pp: {self.pp} stages for {s.n_layers} layers; "
                            f"allowed: 1..{s.n_layers}")
        if llm.batch % self.microbatches:
            raise SpecError(f"Parallelism.microbatches: {self.microbatches} does not divide "
                            f"the batch {llm.batch}; allowed: one of {_divisors(llm.batch)}")
        return self


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def bubble_fraction(p, m):
    """Idle fraction of a GPipe schedule: ``(p - 1) / (m + p - 1)``.

    Example:
        >>> bubble_fraction(1, 8), bubble_fraction(4, 1)
        (0.0, 0.75)
    """
    return (p - 1) / (m + p - 1)


def pipeline_time_s(stage_s, send_s, p: int, m: int):
    """One step through ``p`` stages with ``m`` micro-batches: ``(m + p - 1)`` stage
    times plus ``p - 1`` activation sends on the critical path.

    Example:
        >>> pipeline_time_s(1.0, 0.1, 4, 4)  # 7 stage times + 3 sends
        7.3
    """
    return (m + p - 1) * stage_s + (p - 1) * send_s


_INDEX = re.compile(r"(?:^|[/.])(\d+)(?=[/.]|$)")


def block_index(name: str) -> int | None:
    """Decoder-block index in a layer name (``"blocks/3/attn/q"`` -> 3), or ``None``."""
    hit = _INDEX.search(name)
    return int(hit.group(1)) if hit else None


def stage_fractions(llm: LlmWorkload, pp: int) -> np.ndarray:
    """Share of each workload layer on the busiest pipeline stage.

    A stage holds at most ``ceil(L / pp)`` of the ``L`` decoder blocks; layers outside
    the blocks (the LM head) are put on that stage too [A] (an upper bound: the head
    shares a stage with the fewest blocks when ``L`` is not a multiple of ``pp``). Blocks
    are told by an integer path component of the layer name; a workload without one
    (blocks folded into ``groups`` by a ``scan``) is split uniformly.

    Example:
        >>> from lepton_codesign.hw_models.llm_workload import LlmShape
        >>> from lepton_codesign.hw_models.workload import gemm_workload
        >>> s = LlmShape("t", n_layers=4, d_model=8, n_heads=2, n_kv_heads=2, d_ff=16,
        ...              vocab=32)
        >>> names = [f"blocks/{i}/ffn" for i in range(4)] + ["lm_head"]
        >>> wl = gemm_workload([(1, 8, 8)] * 4 + [(1, 8, 32)], names=names)
        >>> lw = LlmWorkload(wl, s, "decode", 1, 1, 1, ("row",) * 4 + ("column",), 0, 0, 0)
        >>> stage_fractions(lw, 3).tolist()
        [0.5, 0.5, 0.5, 0.5, 1.0]
    """
    names = llm.workload.names
    idx = [block_index(n) for n in names]
    blocks = {i for i in idx if i is not None}
    n_blocks = len(blocks) if blocks else llm.shape.n_layers
    share = math.ceil(n_blocks / pp) / n_blocks
    if not blocks:
        return np.full(len(names), share)
    return np.array([share if i is not None else 1.0 for i in idx])


def rebatch(wl: Workload, batch: int) -> Workload:
    """``wl`` (traced at ``wl.batch`` sequences) for ``batch`` sequences (a divisor).

    The batch sits in ``m`` of a weighted layer (``m = batch x tokens``) and in
    ``groups`` of an attention ``matmul`` (``groups = batch x heads``); element counts
    and op groups scale with it (weights excepted).
    """
    B = wl.batch
    if batch == B:
        return wl
    r = batch / B
    m, g = np.asarray(wl.m, np.float64), np.asarray(wl.groups, np.float64)
    wt, inp, out = (np.asarray(x, np.float64) for x in
                    (wl.weight_elems, wl.input_elems, wl.output_elems))
    in_groups = np.array([k == "matmul" for k in wl.kinds]) & (np.mod(g, B) == 0)
    m = np.where(in_groups, m, m * r)
    g = np.where(in_groups, g * r, g)
    wt = np.where(np.asarray(wl.has_weights), wt, wt * r)  # a matmul's 2nd operand: per sequence
    bad = [n for n, x in zip(wl.names, m, strict=True) if abs(x - round(x)) > 1e-6]
    if bad:
        raise SpecError(f"rebatch: layer {bad[0]!r} has m not divisible by the batch "
                        f"{B} / {batch}; allowed: a batch that divides every layer's rows")
    ops = wl.ops
    if ops is not None:
        ops = dataclasses.replace(ops, **{f: getattr(ops, f) * r for f in
                                          ("in_elems", "out_elems", "flops",
                                           "transcendentals")})
    f32 = lambda x: jnp.asarray(np.asarray(x, np.float32))  # noqa: E731
    return dataclasses.replace(wl, m=f32(m), groups=f32(g), weight_elems=f32(wt),
                               input_elems=f32(inp * r), output_elems=f32(out * r),
                               batch=int(batch), ops=ops)


def tensor_split(wl: Workload, roles: tuple[str, ...], tp: int) -> Workload:
    """One device's share of ``wl`` under ``tp``-way tensor parallelism (module doc).

    Example:
        >>> from lepton_codesign.hw_models.workload import gemm_workload
        >>> wl = gemm_workload([(4, 64, 128), (4, 128, 64)])
        >>> d = tensor_split(wl, ("column", "row"), 4)
        >>> [float(x) for x in d.n], [float(x) for x in d.k]
        ([32.0, 64.0], [64.0, 32.0])
    """
    if tp == 1:
        return wl
    roles_a = np.asarray(roles)
    col, row, heads = roles_a == "column", roles_a == "row", roles_a == "heads"
    k, n, g = (np.asarray(x, np.float64) for x in (wl.k, wl.n, wl.groups))
    n2 = np.where(col, np.ceil(n / tp), n)
    k2 = np.where(row, np.ceil(k / tp), k)
    g2 = np.where(heads, np.ceil(g / tp), g)
    wt, inp, out = (np.asarray(x, np.float64) for x in
                    (wl.weight_elems, wl.input_elems, wl.output_elems))
    f_n, f_k, f_g = n2 / n, k2 / k, g2 / g
    f32 = lambda x: jnp.asarray(np.asarray(x, np.float32))  # noqa: E731
    ops = wl.ops
    if ops is not None:
        after = np.asarray(ops.after, int)
        split = np.array([0 <= a < len(roles) and roles[a] in ("column", "heads")
                          for a in after])
        scale = np.where(split, 1.0 / tp, 1.0)
        ops = VectorOps(**{f: jnp.asarray(np.asarray(getattr(ops, f)) * scale, jnp.float32)
                           for f in ("in_elems", "out_elems", "flops", "transcendentals")},
                        after=ops.after, fused=ops.fused, names=ops.names, kinds=ops.kinds)
    return dataclasses.replace(
        wl, k=f32(k2), n=f32(n2), groups=f32(g2),
        weight_elems=f32(wt * f_n * f_k * f_g), input_elems=f32(inp * f_k * f_g),
        output_elems=f32(out * f_n * f_g), ops=ops)
