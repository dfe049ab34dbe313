"""Typed compression pieces: registries, a new gate end to end, phases, loss terms."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lepton_codesign.compress import (
    CompressionPolicy,
    compress,
    compression_state,
    harden,
)
from lepton_codesign.compress import masks as M
from lepton_codesign.compress.allocations import GlobalAllocation, PerLayer
from lepton_codesign.compress.gates import Gate, HardConcrete, SigmoidSTE
from lepton_codesign.compress.layers import calibrate
from lepton_codesign.compress.methods import Fixed, Learned, Magnitude, NoPruning, Saliency
from lepton_codesign.compress.phase import Phase, current_phase, phase
from lepton_codesign.compress.quantisers import FixedBits, LearnedBits
from lepton_codesign.compress.registry import (
    ALLOCATIONS,
    GATES,
    METHODS,
    QUANTISERS,
    STRUCTURES,
    Registry,
)
from lepton_codesign.compress.structures import NM, Channel, Unstructured
from lepton_codesign.compress.terms import (
    BitBudget,
    Distillation,
    GateTarget,
    SparsityPenalty,
    TaskLoss,
)
from lepton_codesign.data import load_digits
from lepton_codesign.models import MLP
from lepton_codesign.train import TrainConfig, train

FAST = dict(epochs=2, batch_size=32, learning_rate=1e-2, progress=False)


@pytest.fixture(scope="module")
def digits():
    ds = load_digits()
    return (ds.train[0][:512], ds.train[1][:512]), ds.test


def _mlp(seed=0):
    return MLP((64, 32, 10), rngs=nnx.Rngs(seed))


def test_registries_resolve_names_once():
    assert METHODS.names()[:4] == ("none", "learned", "magnitude", "saliency")
    assert "fixed" in METHODS.names()
    assert set(GATES.names()) >= {"sigmoid_ste", "hard_concrete"}
    assert STRUCTURES.names() == ("unstructured", "nm", "channel")
    assert ALLOCATIONS.names() == ("global", "per_layer")
    assert QUANTISERS.names()[:2] == ("fixed", "learned")
    pol = CompressionPolicy(sparsity=None, structure="nm", n=1, m=4, method="learned",
                            gate="hard_concrete", allocation="per_layer")
    p = pol.pieces
    assert (p.method, p.structure, p.gate, p.allocation) == (
        Learned(), NM(1, 4), HardConcrete(), PerLayer())
    assert pol.structure == "nm"  # the fields keep what was given (config records)
    pol = CompressionPolicy(sparsity=0.5, method=None, temperature=0.5)
    p = pol.pieces
    assert (p.method, p.gate, p.structure, p.allocation) == (
        NoPruning(), SigmoidSTE(0.5), Unstructured(), GlobalAllocation())
    assert dataclasses.replace(pol, temperature=2.0).pieces.gate == SigmoidSTE(2.0)
    # instances are used as they are
    pol = CompressionPolicy(method=Magnitude(), structure=NM(2, 8))
    assert pol.pieces.structure == NM(2, 8) and pol.pieces.method == Magnitude()
    assert CompressionPolicy(sparsity=0.5, method="saliency", structure="channel"
                             ).pieces.structure == Channel()
    hash(pol)
    assert dataclasses.asdict(CompressionPolicy())["structure"] == "unstructured"
    with pytest.raises(ValueError, match=r"gate 'hard_concrte' .*did you mean 'hard_concrete'"):
        CompressionPolicy(gate="hard_concrte")
    with pytest.raises(TypeError, match="method must be a name"):
        CompressionPolicy(method=3)
    reg = Registry("thing")
    reg.register("a")(type("A", (), {}))
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(type("B", (), {}))
    assert LearnedBits(4).hardened(3) == FixedBits(3)
    assert Fixed().name == "fixed"


def test_layers_carry_typed_pieces_and_harden_to_fixed():
    model = compress(_mlp(), CompressionPolicy(sparsity=0.5, method="saliency",
                                               weight_bits=4, learn_bits=True))
    layer = model.layers[0]
    assert (layer.method, layer.w_quantiser, layer.a_quantiser) == (
        Saliency(), LearnedBits(4), None)
    assert layer.learn_bits and not layer.learn_act_bits
    hard = harden(model)
    layer = hard.layers[0]
    assert (layer.method, layer.w_quantiser) == (Fixed(), FixedBits(4))
    assert not hasattr(layer, "saliency") and hasattr(layer, "prune_mask")


@GATES.register("test_tanh_ste")
@dataclasses.dataclass(frozen=True)
class TanhSTE(Gate):
    """A gate defined only here: hard ``logit >= threshold``, a tanh gradient."""

    slope: float = 1.0

    def thresholded(self, structure) -> bool:
        return not structure.has_pattern

    def init_state(self, layer) -> None:
        from lepton_codesign.compress.variables import MaskState

        layer.gate_threshold = MaskState(jnp.zeros((), jnp.float32))

    def mask(self, layer, stochastic):
        logits = layer.gate_logits[...]
        hard = (logits >= layer.gate_threshold[...]).astype(logits.dtype)
        soft = 0.5 * (1.0 + jnp.tanh(self.slope * (logits - layer.gate_threshold[...])))
        return M.ste(hard, soft)


def test_a_gate_defined_in_one_place_trains_end_to_end(digits):
    """A new gate registered in this file works through compress + train + harden
    + compression_state with no edit elsewhere, and its logits get gradients."""
    pol = CompressionPolicy(sparsity=0.75, gate="test_tanh_ste")
    model = compress(_mlp(), pol)
    assert model.layers[0].gate == TanhSTE() == pol.pieces.gate
    res = train(model, *digits, TrainConfig(**FAST), key=jax.random.key(0))
    moved = np.abs(np.asarray(res.state.model.layers[0].gate_logits[...])  # soft model
                   - np.asarray(model.layers[0].gate_logits[...])).max()
    assert moved > 1e-3  # the optimiser moved the new gate's logits
    sizes = np.array([64 * 32, 32 * 10])
    kept = float(np.sum(np.asarray(res.compression.weight_density) * sizes))
    assert kept == pytest.approx(0.25 * sizes.sum(), abs=1.0)  # hardened at the target
    assert res.metrics["test_accuracy"] > 0.3
    assert compression_state(res.model).weight_density.shape == (2,)


@QUANTISERS.register("test_pow2_range")
@dataclasses.dataclass(frozen=True)
class Pow2Range(FixedBits):
    """A quantiser defined only here: fixed bits on a power-of-two range."""

    def quantise(self, x, q_range, bits, signed):
        r = jnp.exp2(jnp.round(jnp.log2(jnp.abs(q_range) + 1e-12)))
        return M.ste(super().quantise(x, r, bits, signed), x)


def test_a_quantiser_defined_in_one_place_trains_end_to_end(digits):
    pol = CompressionPolicy(method=None, weight_bits=Pow2Range(4), act_bits=8,
                            layer_weight_bits=(("layers/1", 6),))
    model = compress(_mlp(), pol)
    assert [layer.w_quantiser for layer in model.layers] == [Pow2Range(4), Pow2Range(6)]
    res = train(model, *digits, TrainConfig(**FAST), key=jax.random.key(0))
    assert res.compression.weight_bits.tolist() == [4.0, 6.0]
    assert res.model.layers[0].w_quantiser == Pow2Range(4)  # hardened, same kind
    assert res.metrics["test_accuracy"] > 0.3


def test_phase_is_scoped_not_set_on_layers():
    model = compress(_mlp(), CompressionPolicy(method=None, act_bits=8))
    x = jnp.linspace(-0.5, 0.5, 5 * 64).reshape(5, 64)
    before = float(model.layers[0].a_range[...])
    calibrate(model, x)
    assert float(model.layers[0].a_range[...]) != before
    assert model.layers[0].act_signed and not model.layers[1].act_signed  # post-ReLU
    assert current_phase() == Phase()
    layer = model.layers[0]
    density = float(layer.act_density[...])
    with phase(Phase(track_act_density=False)):
        model(jnp.zeros((2, 64)))  # training mode, but no EMA in this phase
    assert float(layer.act_density[...]) == density
    model(jnp.zeros((2, 64)))  # default phase, training mode: the EMA moves
    assert float(layer.act_density[...]) < density
    with pytest.raises(RuntimeError), phase(Phase(measure=True)):
        raise RuntimeError
    assert current_phase() == Phase()  # restored on errors too
    with pytest.raises(TypeError, match="needs a Phase"):
        with phase("observe"):
            pass


def test_old_keywords_map_onto_terms():
    cfg = TrainConfig(bit_weight=1.0, bit_budget=4.0, kd_alpha=0.3, progress=False)
    assert cfg.terms == (TaskLoss(), Distillation(alpha=0.3), GateTarget(),
                         BitBudget(1.0, 4.0))
    assert TrainConfig().terms == (TaskLoss(), Distillation(), GateTarget())
    # replace keeps the terms and applies the keywords it is given
    cfg2 = dataclasses.replace(cfg, epochs=3, sparsity_weight=0.5, bit_budget=3.0)
    assert cfg2.terms == (TaskLoss(), Distillation(alpha=0.3), GateTarget(),
                          SparsityPenalty(0.5), BitBudget(1.0, 3.0)) and cfg2.epochs == 3
    assert dataclasses.replace(cfg, epochs=5).terms == cfg.terms
    custom = TrainConfig(terms=(TaskLoss(),), gate_target_weight=0.0)
    assert custom.terms == (TaskLoss(), GateTarget(0.0))
    with pytest.raises(ValueError, match=r"kd_alpha must be in \[0, 1\]"):
        TrainConfig(kd_alpha=1.5)
    with pytest.raises(TypeError, match="not a loss term"):
        TrainConfig(terms=("task",))
    with pytest.raises(ValueError, match="terms is empty"):
        TrainConfig(terms=())


def test_terms_equal_old_keywords_bit_for_bit(digits):
    """The same objective given as terms or as the old keywords trains identically."""
    model = compress(_mlp(), CompressionPolicy(sparsity=None, weight_bits=8, learn_bits=True))
    old = TrainConfig(**FAST, sparsity_weight=0.5, bit_weight=0.1)
    new = TrainConfig(**FAST, terms=(TaskLoss(), SparsityPenalty(0.5), BitBudget(0.1)))
    a = train(model, *digits, old, key=jax.random.key(3))
    b = train(model, *digits, new, key=jax.random.key(3))
    assert a.history["loss"] == b.history["loss"]
    np.testing.assert_array_equal(a.compression.weight_density, b.compression.weight_density)
