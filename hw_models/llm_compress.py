"""Compression schemes of LLM serving, as ``evaluate_llm`` prices them.

An ``LlmCompression`` is one setting for the whole model (weight-only and weight +
activation quantisation, fp8, 2:4 sparsity, KV-cache bits); ``evaluate_llm`` turns it
into a per-layer ``Compression`` for the device models. Each knob changes the bytes
moved and the kernel path:

* **weight-only** ``w8a16`` / ``w4a16`` (GPTQ / AWQ-style, W8A16 / W4A16): weights stored
  and read at 8 / 4 bits, compute at 16 bits: the GPU model's candidate dtypes follow the
  wider operand (``gpu_kernel.wide_enough``: bf16 or wider), so the GEMM runs in bf16
  while its weight bytes shrink 2-4x (what makes memory-bound decode faster).
* **``w8a8``** (SmoothQuant-style int8): both operands 8-bit integers: int8 tensor cores
  where they are the fastest candidate (compute-bound GEMMs); memory-bound ones (decode
  GEMVs) run in bf16, whose 16-bit outputs move less than int8's int32 ones.
* **``fp8``**: both operands 8-bit floating point (the GPU's ``prefer_fp8``: e4m3 GEMMs,
  or bf16 where that is faster).
* **``+2:4``**: 2:4 structured sparse weights (NVIDIA Ampere+): half the values plus a
  2-bit index each, and the sparse tensor-core speed-up where the device has one.
* **``kv_bits``**: KV-cache elements stored and read at these bits (FP8 / INT8 KV cache);
  attention still computes at the activation width.

Example:
    >>> resolve_compression("w4a16+2:4", kv_bits=8)
    LlmCompression(weight_bits=4.0, act_bits=16.0, kv_bits=8.0, fp8=False, sparsity='2:4')
"""

from __future__ import annotations

import dataclasses

from lepton_codesign.hw_models.schema import SpecError, closest

SPARSITY = ("dense", "2:4")


@dataclasses.dataclass(frozen=True)
class LlmCompression:
    """Whole-model compression setting (static: it changes no array shapes).

    Attributes:
        weight_bits: bits per stored GEMM weight (16, 8, 4, ...).
        act_bits: activation bits (the compute width of a weight-only scheme).
        kv_bits: KV-cache bits.
        fp8: 8-bit operands are fp8 (e4m3), not int8 (GPUs with fp8 tensor cores).
        sparsity: ``"dense"`` or ``"2:4"`` for the GEMM weights.
    """

    weight_bits: float = 16.0
    act_bits: float = 16.0
    kv_bits: float = 16.0
    fp8: bool = False
    sparsity: str = "dense"

    def __post_init__(self):
        for f in ("weight_bits", "act_bits", "kv_bits"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 1 <= v <= 32:
                raise SpecError(f"LlmCompression.{f}: {v!r} is not allowed; allowed: a "
                                "number of bits in [1, 32]")
            object.__setattr__(self, f, float(v))
        if self.sparsity not in SPARSITY:
            raise SpecError(f"LlmCompression.sparsity: {self.sparsity!r} is not allowed"
                            f"{closest(self.sparsity, SPARSITY)}; allowed: one of "
                            f"{list(SPARSITY)}")


SCHEMES = {
    "fp16": LlmCompression(16.0, 16.0),
    "bf16": LlmCompression(16.0, 16.0),
    "w8a16": LlmCompression(8.0, 16.0),
    "w4a16": LlmCompression(4.0, 16.0),
    "w8a8": LlmCompression(8.0, 8.0),
    "fp8": LlmCompression(8.0, 8.0, fp8=True),
}


def resolve_compression(compression=None, kv_bits=None) -> LlmCompression:
    """An ``LlmCompression`` from a scheme name (``SCHEMES``, optional ``"+2:4"``), an
    ``LlmCompression`` or ``None`` (fp16); ``kv_bits`` overrides the KV-cache bits.

    Raises:
        SpecError: an unknown scheme (with the closest name) or bits out of range.
    """
    if compression is None:
        c = SCHEMES["fp16"]
    elif isinstance(compression, LlmCompression):
        c = compression
    elif isinstance(compression, str):
        name, _, sparse = compression.lower().partition("+")
        if name not in SCHEMES or sparse not in ("", "2:4"):
            raise SpecError(f"compression: {compression!r} is not allowed"
                            f"{closest(name, SCHEMES)}; allowed: one of {sorted(SCHEMES)}, "
                            "optionally with '+2:4' (e.g. 'w4a16+2:4'), or an LlmCompression")
        c = SCHEMES[name]
        if sparse:
            c = dataclasses.replace(c, sparsity="2:4")
    else:
        raise SpecError(f"compression: a {type(compression).__name__} is not allowed; "
                        f"allowed: a scheme name ({sorted(SCHEMES)}) or an LlmCompression")
    if kv_bits is not None:
        c = dataclasses.replace(c, kv_bits=kv_bits)
    return c
