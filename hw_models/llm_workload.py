"""Decoder-only transformer inference steps as workloads (no flax).

An LLM is served in two phases with different costs:

* **prefill**: the prompt (``tokens = P`` per sequence) goes through every layer at
  once; attention multiplies ``P`` queries by ``P`` keys. Compute-bound at large ``P``.
  Its latency is the time to first token (TTFT).
* **decode**: one new token per sequence (``tokens = 1``) attends to a KV cache of
  ``context = L`` earlier tokens. Every step reads all weights and the whole cache:
  memory-bound at small batch. Its latency is the time per output token (TPOT).

``LlmShape`` is the static description of a model (what a named config such as
Llama-2-70B fixes); ``LlmWorkload`` is one step of one phase: the per-layer GEMMs and
non-GEMM ops of the whole model on one device (``workload``), plus what tensor-parallel
splitting and memory accounting need (``tp_roles``, element counts). It is produced by
``lepton_codesign.llm`` from a Flax model traced on abstract shapes, and priced by
``hw_models.llm_costs``.

Tensor-parallel roles (Megatron-LM, Shoeybi et al. 2019, arXiv:1909.08053), one per
workload layer:

* ``"column"``: output features split over the ``tp`` devices (Q/K/V, gate/up, the
  vocabulary-parallel LM head): ``n / tp``, no communication.
* ``"row"``: reduction split (attention output, FFN down): ``k / tp``, followed by an
  all-reduce of the layer's output.
* ``"heads"``: attention score / value matmuls: the (KV-)head groups split, ``groups / tp``.
* ``"replicated"``: every device computes the whole layer.

Example:
    >>> s = LlmShape("toy", n_layers=2, d_model=64, n_heads=4, n_kv_heads=2, d_ff=128,
    ...              vocab=256)
    >>> s.head_dim, s.kv_elems_per_token
    (16, 128)
"""

from __future__ import annotations

import dataclasses

from lepton_codesign.hw_models.workload import Workload

PHASES = ("prefill", "decode")
TP_ROLES = ("column", "row", "heads", "replicated")


@dataclasses.dataclass(frozen=True)
class LlmShape:
    """Static shape of a decoder-only transformer.

    Attributes:
        name: config name (e.g. ``"llama2-70b"``).
        n_layers: decoder blocks.
        d_model: hidden width.
        n_heads: query heads.
        n_kv_heads: key/value heads (``n_heads``: MHA; fewer: GQA; 1: MQA).
        d_ff: FFN inner width.
        vocab: vocabulary size.
        gated_ffn: SwiGLU-style FFN (gate and up projections) if True.
        tied_embeddings: LM head shares the embedding matrix.
    """

    name: str
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    d_ff: int
    vocab: int
    gated_ffn: bool = True
    tied_embeddings: bool = False

    def __post_init__(self):
        for f in ("n_layers", "d_model", "n_heads", "n_kv_heads", "d_ff", "vocab"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"LlmShape {self.name!r}: {f}={v!r} is not allowed; "
                                 "allowed: an integer >= 1")
        if self.d_model % self.n_heads:
            raise ValueError(f"LlmShape {self.name!r}: d_model={self.d_model} is not a "
                             f"multiple of n_heads={self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"LlmShape {self.name!r}: n_heads={self.n_heads} is not a "
                             f"multiple of n_kv_heads={self.n_kv_heads}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def kv_elems_per_token(self) -> int:
        """Key + value elements cached per token per sequence, all layers."""
        return 2 * self.n_layers * self.n_kv_heads * self.head_dim


@dataclasses.dataclass(frozen=True)
class LlmWorkload:
    """One inference step of one phase (whole model, one device, ``batch`` sequences).

    Attributes:
        workload: per-layer GEMMs (+ ``ops``) of the step; ``workload.batch`` is the
            number of sequences.
        shape: the model's ``LlmShape``.
        phase: ``"prefill"`` or ``"decode"``.
        batch: sequences in the step.
        tokens: new tokens per sequence (the prompt length for prefill, 1 for decode).
        context: tokens attended to per sequence, the new ones included (the KV length).
        tp_roles: one of ``TP_ROLES`` per workload layer.
        weight_elems: stored weight elements of the model (embeddings included).
        kv_cache_elems: KV-cache elements held for ``batch`` sequences of ``context``.
        act_peak_elems: largest live activation elements at once during the step.
    """

    workload: Workload
    shape: LlmShape
    phase: str
    batch: int
    tokens: int
    context: int
    tp_roles: tuple[str, ...]
    weight_elems: int
    kv_cache_elems: int
    act_peak_elems: int

    def __post_init__(self):
        if self.phase not in PHASES:
            raise ValueError(f"LlmWorkload: phase={self.phase!r}; allowed: {PHASES}")
        if len(self.tp_roles) != self.workload.num_layers:
            raise ValueError(f"LlmWorkload: {len(self.tp_roles)} tp_roles for "
                             f"{self.workload.num_layers} layers")
        bad = sorted(set(self.tp_roles) - set(TP_ROLES))
        if bad:
            raise ValueError(f"LlmWorkload: tp_roles {bad}; allowed: {TP_ROLES}")
        for f in ("batch", "tokens", "context"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"LlmWorkload: {f}={v!r}; allowed: an integer >= 1")
        if self.context < self.tokens:
            raise ValueError(f"LlmWorkload: context={self.context} < tokens={self.tokens}")
