"""Compression of Flax NNX models: learned masks, learned bit-widths, distillation.

Public API::

    CompressionPolicy, compress                       # swap layers by path filter
    CompressedLinear, CompressedConv                  # the wrapped layers
    MaskLogit, BitParam, QuantRange, MaskState, QuantState   # variable types (filters)
    compression_state, harden                         # -> hw_models.Compression
    export_compressed, import_compressed, save_exported, load_exported, storage_report
    HardwareCost, kd_loss, feature_matching           # loss functions
    Task, MultiTaskModel                              # multi-task models

Typed pieces, each registered by name (``registry``) so that a policy's strings
resolve once and a new piece is one class in one file::

    METHODS: NoPruning, Learned, Magnitude, Saliency, Fixed      (methods.py)
    GATES: SigmoidSTE, HardConcrete                              (gates.py)
    STRUCTURES: Unstructured, NM, Channel                        (structures.py)
    ALLOCATIONS: GlobalAllocation, PerLayer                      (allocations.py)
    QUANTISERS: FixedBits, LearnedBits                           (quantisers.py)
    Phase, phase                                                 (phase.py)

Gradual magnitude pruning in fixed form (``gradual.py``: ``fixed_form``,
``GradualMagnitude``): masks set between epochs, outside the compiled step, so every
fixed-bit policy of a model shares one compilation (the joint search's fine-tunes).

Loss terms summed by ``train`` (``terms.py``): TaskLoss, Distillation,
FeatureMatching, GateTarget, SparsityPenalty, BitBudget and HardwareCost.
"""

from lepton_codesign.compress.allocations import Allocation, GlobalAllocation, PerLayer
from lepton_codesign.compress.gates import Gate, HardConcrete, SigmoidSTE
from lepton_codesign.compress.gradual import GradualMagnitude, fixed_form
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
from lepton_codesign.compress.methods import (
    Fixed,
    Learned,
    Magnitude,
    NoPruning,
    PruningMethod,
    Saliency,
)
from lepton_codesign.compress.multitask import MultiTaskModel, Task
from lepton_codesign.compress.phase import Phase, current_phase, phase
from lepton_codesign.compress.policy import CompressionPolicy, compress
from lepton_codesign.compress.quantisers import FixedBits, LearnedBits, Quantiser
from lepton_codesign.compress.registry import (
    ALLOCATIONS,
    GATES,
    METHODS,
    QUANTISERS,
    STRUCTURES,
    Registry,
)
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
from lepton_codesign.compress.structures import NM, Channel, Structure, Unstructured
from lepton_codesign.compress.terms import (
    BitBudget,
    Distillation,
    FeatureMatching,
    GateTarget,
    LossContext,
    LossTerm,
    SparsityPenalty,
    TaskLoss,
    TermSetup,
)

__all__ = [
    "ALLOCATIONS", "GATES", "METHODS", "NM", "QUANTISERS", "STRUCTURES",
    "Allocation", "BitBudget", "BitParam", "Channel", "CompressedConv", "CompressedLinear",
    "CompressionPolicy", "Distillation", "FeatureMatching", "Fixed", "FixedBits", "Gate",
    "GateTarget", "GlobalAllocation", "GradualMagnitude", "HardConcrete", "HardwareCost", "Learned",
    "LearnedBits", "LossContext", "LossTerm", "Magnitude", "MaskLogit", "MaskState",
    "MultiTaskModel", "NoPruning", "PerLayer", "Phase", "PruningMethod", "QuantRange",
    "QuantState", "Quantiser", "Registry", "Saliency", "SigmoidSTE", "SparsityPenalty",
    "Structure", "Task", "TaskLoss", "TermSetup", "Unstructured",
    "average_weight_bits", "calibrate", "compress", "compressed_layers",
    "compression_state", "cubic_schedule", "current_phase", "export_compressed",
    "feature_matching", "fixed_form", "gemm_layers", "harden", "hardware_cost", "import_compressed",
    "is_compressed", "kd_loss", "load_exported", "phase", "save_exported", "soft_density",
    "storage_report", "update_masks",
]
