"""Named decoder-only transformer shapes (``LlmShape``) with their sources.

Values are the Hugging Face ``config.json`` fields of each model (``hidden_size``,
``num_hidden_layers``, ``num_attention_heads``, ``num_key_value_heads``,
``intermediate_size``, ``vocab_size``, ``tie_word_embeddings``). All listed models are
bias-free, RMSNorm, RoPE, SwiGLU decoders (Llama architecture); ``DecoderLM`` builds
them exactly, except Mistral's 4096-token sliding window (the cost equals full
attention up to 4096 tokens of context). Published parameter counts are quoted for the
check in ``tests/llm/test_llm_extract.py``.

Example:
    >>> llm_config("llama2-70b").n_kv_heads
    8
"""

from __future__ import annotations

from lepton_codesign.hw_models.llm_workload import LlmShape

# name -> (shape, RoPE base, source, published parameter count)
_CONFIGS: dict[str, tuple[LlmShape, float, str, float | None]] = {
    # [A] a toy shape chosen to train on 2 CPU cores in seconds (vocab = the synthetic
    # language of lepton_codesign.llm.data).
    "tiny": (LlmShape("tiny", n_layers=2, d_model=64, n_heads=4, n_kv_heads=2, d_ff=128,
                      vocab=32), 10000.0, "[A] toy shape of this project", None),
    # [C] huggingface.co/meta-llama/Llama-2-7b-hf config.json; Touvron et al. 2023
    # (arXiv:2307.09288) Table 1: "7B"; 6.74e9 parameters counted from the checkpoint.
    "llama2-7b": (LlmShape("llama2-7b", n_layers=32, d_model=4096, n_heads=32, n_kv_heads=32,
                           d_ff=11008, vocab=32000), 10000.0,
                  "[C] meta-llama/Llama-2-7b-hf config.json; arXiv:2307.09288", 6.74e9),
    # [C] huggingface.co/meta-llama/Llama-2-13b-hf config.json; 13.0e9 parameters.
    "llama2-13b": (LlmShape("llama2-13b", n_layers=40, d_model=5120, n_heads=40,
                            n_kv_heads=40, d_ff=13824, vocab=32000), 10000.0,
                   "[C] meta-llama/Llama-2-13b-hf config.json; arXiv:2307.09288", 13.0e9),
    # [C] huggingface.co/meta-llama/Llama-2-70b-hf config.json (GQA, 8 KV heads);
    # 69.0e9 parameters (model card: "70B").
    "llama2-70b": (LlmShape("llama2-70b", n_layers=80, d_model=8192, n_heads=64, n_kv_heads=8,
                            d_ff=28672, vocab=32000), 10000.0,
                   "[C] meta-llama/Llama-2-70b-hf config.json; arXiv:2307.09288", 69.0e9),
    # [C] huggingface.co/meta-llama/Meta-Llama-3-8B config.json (rope_theta 500000);
    # model card: 8.03e9 parameters.
    "llama3-8b": (LlmShape("llama3-8b", n_layers=32, d_model=4096, n_heads=32, n_kv_heads=8,
                           d_ff=14336, vocab=128256), 500000.0,
                  "[C] meta-llama/Meta-Llama-3-8B config.json", 8.03e9),
    # [C] huggingface.co/meta-llama/Meta-Llama-3-70B config.json; 70.6e9 parameters.
    "llama3-70b": (LlmShape("llama3-70b", n_layers=80, d_model=8192, n_heads=64, n_kv_heads=8,
                            d_ff=28672, vocab=128256), 500000.0,
                   "[C] meta-llama/Meta-Llama-3-70B config.json", 70.6e9),
    # [C] huggingface.co/mistralai/Mistral-7B-v0.1 config.json; Jiang et al. 2023
    # (arXiv:2310.06825) Table 1; 7.24e9 parameters (model card).
    "mistral-7b": (LlmShape("mistral-7b", n_layers=32, d_model=4096, n_heads=32, n_kv_heads=8,
                            d_ff=14336, vocab=32000), 10000.0,
                   "[C] mistralai/Mistral-7B-v0.1 config.json; arXiv:2310.06825", 7.24e9),
}


def llm_config_names() -> list[str]:
    """Names accepted by ``llm_config``.

    Example:
        >>> "llama3-8b" in llm_config_names()
        True
    """
    return sorted(_CONFIGS)


def _lookup(name: str) -> tuple:
    if not isinstance(name, str) or name not in _CONFIGS:
        from lepton_codesign.hw_models.schema import closest

        hint = closest(name, llm_config_names()) if isinstance(name, str) else ""
        raise ValueError(f"unknown LLM config {name!r}{hint}; allowed: {llm_config_names()}")
    return _CONFIGS[name]


def llm_config(name: str) -> LlmShape:
    """The ``LlmShape`` of a named model.

    Raises:
        ValueError: an unknown name (with a did-you-mean and the allowed names).

    Example:
        >>> llm_config("llama2-7b").d_ff
        11008
    """
    return _lookup(name)[0]


def llm_rope_theta(name: str) -> float:
    """RoPE base of a named model (``config.json`` ``rope_theta``; 10000 if absent)."""
    return _lookup(name)[1]


def llm_source(name: str) -> str:
    """Where a named shape's numbers come from, with its confidence tag."""
    return _lookup(name)[2]


def published_params(name: str) -> float | None:
    """The published parameter count of a named model (``None`` for ``tiny``)."""
    return _lookup(name)[3]


def param_count(shape: LlmShape) -> int:
    """Analytic parameter count: embeddings, attention, FFN, RMSNorm gains, LM head.

    Example:
        >>> param_count(llm_config("llama2-7b"))
        6738415616
    """
    d, kv = shape.d_model, shape.n_kv_heads * shape.head_dim
    attn = d * d * 2 + 2 * d * kv  # q, o; k, v
    ffn = (3 if shape.gated_ffn else 2) * d * shape.d_ff
    per_layer = attn + ffn + 2 * d
    head = 0 if shape.tied_embeddings else shape.vocab * d
    return shape.vocab * d + shape.n_layers * per_layer + d + head
