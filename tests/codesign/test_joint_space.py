"""The compression search space: every knob round-trips through the unit cube."""

import numpy as np
import pytest

from lepton_codesign.codesign.candidate import Candidate, group_layers
from lepton_codesign.codesign.compression_space import CompressionSpace
from lepton_codesign.codesign.config import ConfigError, validate_config

LAYERS = ["layers/0", "layers/1", "layers/2", "layers/3"]
FULL = {"sparsity": [0.2, 0.9], "structures": ["none", "unstructured", "nm", "channel"],
        "nm": [[2, 4], [1, 4], [2, 8]], "weight_bits": [2, 4, 8], "act_bits": [4, 8],
        "bit_groups": "first-middle-last", "bit_budget": [3.0, 6.0],
        "allocation": ["uniform", "global", "learned"], "hw_weight": [0.0, 0.5]}


def _space(**over):
    cfg = validate_config({"compression": {**FULL, **over}})["compression"]
    return CompressionSpace(cfg, LAYERS)


def test_every_knob_round_trips():
    cs = _space()
    assert set(cs.space.names) == {"sparsity", "structure", "nm", "weight_bits0",
                                   "weight_bits1", "weight_bits2", "act_bits", "allocation",
                                   "learned_bits", "bit_budget", "hw_weight"}
    cands = [
        Candidate("unstructured", 0.457, (2, 4), (2, 8, 4), 4, "first-middle-last",
                  "uniform", None, 0.125),
        Candidate("channel", 0.9, (2, 4), (8, 8, 2), 8, "first-middle-last", "learned",
                  None, 0.0),
        Candidate("nm", 0.0, (2, 8), (4, 2, 8), 4, "first-middle-last", "global", 5.25, 0.5),
        Candidate("none", 0.0, (1, 4), (8, 4, 4), 8, "first-middle-last", "global", 3.0,
                  0.3),
        Candidate("unstructured", 0.2, (1, 4), (4, 4, 4), 8, "first-middle-last", "global",
                  None, 0.0),
    ]
    back = cs.decode(cs.encode(cands))
    assert back == cands
    for c, b in zip(cands, back, strict=True):  # each field, not only equality as a whole
        for field in ("structure", "sparsity", "nm", "weight_bits", "act_bits", "allocation",
                      "bit_budget", "hw_weight"):
            assert getattr(b, field) == pytest.approx(getattr(c, field)), field


def test_random_cube_points_decode_and_re_encode():
    cs = _space()
    u = np.random.default_rng(0).random((64, cs.dim)).astype(np.float32)
    cands = cs.decode(u)
    assert len({c.key() for c in cands}) > 40
    assert cs.decode(cs.encode(cands)) == cands
    assert {c.structure for c in cands} == set(FULL["structures"])


def test_fixed_knobs_take_no_coordinates_and_refuse_other_values():
    cs = _space(structures=["nm"], nm=[[2, 4]], act_bits=[8], allocation=["global"],
                bit_budget=[], hw_weight=[0.0, 0.0], bit_groups="uniform")
    assert set(cs.space.names) == {"sparsity", "weight_bits0"}
    with pytest.raises(ValueError, match="act_bits 4 is not the space's only option 8"):
        cs.encode([Candidate("nm", weight_bits=(4,), act_bits=4)])
    with pytest.raises(ValueError, match="weight_bits0 3 is not one of"):
        cs.encode([Candidate("nm", weight_bits=(3,), act_bits=8)])


def test_candidate_policy_sets_bits_per_layer_group():
    c = Candidate("unstructured", 0.8, weight_bits=(4, 8, 6), act_bits=8,
                  bit_groups="first-middle-last", allocation="uniform")
    assert group_layers("first-middle-last", LAYERS) == [["layers/0"], ["layers/1", "layers/2"],
                                                          ["layers/3"]]
    assert c.layer_bits(LAYERS) == [4, 8, 8, 6]
    pol = c.policy(LAYERS)
    assert pol.sparsity == 0.8 and pol.allocation == "per_layer" and pol.weight_bits == 4
    assert dict(pol.layer_weight_bits) == {"layers/1": 8, "layers/2": 8, "layers/3": 6}
    assert Candidate("none", weight_bits=(32,), act_bits=32).policy(LAYERS) is None
    learned = Candidate("unstructured", 0.5, allocation="learned", weight_bits=(8, 8, 8),
                        bit_groups="first-middle-last", bit_budget=4.0)
    assert learned.policy(LAYERS).sparsity is None and learned.policy(LAYERS).learn_bits
    assert learned.train_overrides() == {"sparsity_weight": 10.0, "target_density": 0.5,
                                         "bit_weight": 1.0, "bit_budget": 4.0}


@pytest.mark.parametrize(("table", "needle"), [
    ({"sparsity": [0.5, 1.0]}, "compression.sparsity[1]"),
    ({"structures": ["dense"]}, "compression.structures[0]"),
    ({"nm": [[4, 2]]}, "compression.nm[0]"),
    ({"weight_bits": [1]}, "compression.weight_bits[0]"),
    ({"max_epochs": 2, "min_epochs": 3}, "max_epochs 2 < min_epochs 3"),
    ({"hw_spec": "t4"}, "compression.hw_spec"),
    ({"pop_sise": 8}, "did you mean"),
    ({"time_budget_s": float("nan")}, "compression.time_budget_s"),
    ({"refit": "yes"}, "compression.refit"),
])
def test_bad_compression_tables_are_refused_by_key(table, needle):
    with pytest.raises(ConfigError) as err:
        validate_config({"compression": table})
    assert needle in str(err.value)


def test_points_alone_keep_the_grid_and_compression_alone_has_no_seeds():
    grid = validate_config({"points": [{"name": "a"}]})
    assert grid["compression"] is None and [p["name"] for p in grid["points"]] == ["a"]
    joint = validate_config({"compression": {}})
    assert joint["points"] == [] and joint["compression"]["max_candidates"] >= 1
    with pytest.raises(ConfigError, match="points: empty"):
        validate_config({"points": []})
