"""Decoder-only transformers: the Flax model, named shapes, abstract extraction, toy data.

Example:
    >>> from lepton_codesign.llm import extract_llm
    >>> extract_llm("tiny", "prefill", prompt_len=8).tokens
    8
"""

from lepton_codesign.llm.configs import llm_config, llm_config_names, param_count
from lepton_codesign.llm.extract import extract_llm, tp_role
from lepton_codesign.llm.transformer import DecoderLM, TokenLM

__all__ = ["DecoderLM", "TokenLM", "extract_llm", "llm_config", "llm_config_names",
           "param_count", "tp_role"]
