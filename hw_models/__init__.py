"""hw_models: analytic accelerator cost models in pure JAX (no flax).

Public API::

    Workload, gemm_workload, make_workload, conv_layer      # what runs
    Compression, make_compression, dense_compression        # how it is compressed
    AsicSpec, FpgaSpec, GpuSpec, Deployment                 # what it runs on
    load_spec, preset, preset_names, resolve_spec, SpecError
    evaluate, Costs                                         # what it costs
    evaluate_llm, LlmCosts, Parallelism, Interconnect       # LLM serving (issue 19)
"""

from lepton_codesign.hw_models.asic_spec import AsicSpec
from lepton_codesign.hw_models.compression import Compression, dense_compression, make_compression
from lepton_codesign.hw_models.costs import Costs
from lepton_codesign.hw_models.dollars import Deployment
from lepton_codesign.hw_models.evaluate import evaluate, register_evaluator
from lepton_codesign.hw_models.fpga import evaluate_fpga
from lepton_codesign.hw_models.fpga_spec import FpgaSpec
from lepton_codesign.hw_models.gpu import evaluate_gpu
from lepton_codesign.hw_models.gpu_spec import GpuSpec
from lepton_codesign.hw_models.interconnect import Interconnect
from lepton_codesign.hw_models.llm_compress import LlmCompression
from lepton_codesign.hw_models.llm_costs import LlmCosts, evaluate_llm
from lepton_codesign.hw_models.parallel import Parallelism
from lepton_codesign.hw_models.specio import (
    SpecError,
    load_spec,
    preset,
    preset_names,
    resolve_spec,
)
from lepton_codesign.hw_models.workload import Workload, conv_layer, gemm_workload, make_workload

__all__ = [
    "AsicSpec", "Compression", "Costs", "Deployment", "FpgaSpec", "GpuSpec", "SpecError",
    "Workload", "conv_layer", "dense_compression", "evaluate", "evaluate_fpga", "evaluate_gpu",
    "gemm_workload", "load_spec",
    "make_compression", "make_workload", "preset", "preset_names", "register_evaluator",
    "resolve_spec",
    "Interconnect", "LlmCompression", "LlmCosts", "Parallelism", "evaluate_llm",
]
