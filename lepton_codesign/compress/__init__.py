"""Compression of Flax NNX models: learned masks, learned bit-widths, distillation.

Public API::

    CompressionPolicy, compress                       # swap layers by path filter
    CompressedLinear, CompressedConv                  # the wrapped layers
    MaskLogit, BitParam, QuantRange, MaskState, QuantState   # variable types (filters)
    compression_state, harden                         # -> hw_models.Compression
    export_compressed, import_compressed, save_exported, load_exported, storage_report
    HardwareCost, kd_loss, feature_matching           # loss terms
    Task, MultiTaskModel                              # multi-task models
"""

from lepton_codesign.compress.layers import (
    BitParam,
    CompressedConv,
    CompressedLinear,
    MaskLogit,
    MaskState,
    QuantRange,
    QuantState,
    calibrate,
    compressed_layers,
    gemm_layers,
    is_compressed,
)
from lepton_codesign.compress.losses import (
    HardwareCost,
    average_weight_bits,
    feature_matching,
    hardware_cost,
    kd_loss,
    soft_density,
)
from lepton_codesign.compress.multitask import MultiTaskModel, Task
from lepton_codesign.compress.policy import CompressionPolicy, compress
from lepton_codesign.compress.scores import cubic_schedule, update_masks
from lepton_codesign.compress.state import (
    compression_state,
    export_compressed,
    harden,
    import_compressed,
    load_exported,
    save_exported,
    storage_report,
)

__all__ = [
    "BitParam", "CompressedConv", "CompressedLinear", "CompressionPolicy", "HardwareCost",
    "MaskLogit", "MaskState", "MultiTaskModel", "QuantRange", "QuantState", "Task",
    "average_weight_bits", "calibrate", "compress", "compressed_layers",
    "compression_state", "cubic_schedule", "export_compressed", "feature_matching",
    "gemm_layers", "harden", "hardware_cost", "import_compressed", "is_compressed",
    "kd_loss", "load_exported", "save_exported", "soft_density", "storage_report",
    "update_masks",
]
