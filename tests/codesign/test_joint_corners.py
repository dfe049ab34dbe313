"""The joint search starts from the space's corners and always has the dense model."""

from lepton_codesign.codesign.candidate import FLOAT_BITS
from lepton_codesign.codesign.compression_space import CompressionSpace
from lepton_codesign.codesign.config import validate_config

LAYERS = ["layers/0", "layers/1", "layers/2"]


def _space(**comp):
    return CompressionSpace(validate_config({"compression": comp})["compression"], LAYERS)


def test_corners_reach_the_extremes_of_the_space():
    cs = _space(sparsity=[0.3, 0.95], weight_bits=[3, 4, 6, 8], act_bits=[6, 8],
                structures=["none", "unstructured", "nm"], nm=[[2, 4], [1, 4]])
    corners = cs.corners()
    cheapest = corners[0]  # the cheapest runs first, the most accurate last
    assert cheapest.structure == "unstructured" and cheapest.sparsity == 0.95
    assert cheapest.weight_bits == (3, 3, 3) and cheapest.act_bits == 6
    assert corners[-1].structure == "none" and corners[-1].weight_bits == (8, 8, 8)
    assert all(c.allocation == "global" for c in corners)  # the space's default allows it
    assert any(c.structure == "unstructured" and c.sparsity == 0.95
               and c.weight_bits == (4, 4, 4) for c in corners)  # the grid's s90-int4 side
    assert any(c.structure == "nm" and c.nm == (1, 4) for c in corners)
    assert any(c.structure == "none" and c.weight_bits == (8, 8, 8) for c in corners)
    # every corner is a point of the space: it round-trips through the cube
    assert [c.key() for c in cs.decode(cs.encode(corners))] == [c.key() for c in corners]


def test_corners_only_use_the_structures_given():
    corners = _space(structures=["nm"], nm=[[2, 4]]).corners()
    assert [c.structure for c in corners] == ["nm"]
    assert all(c.weight_bits != (FLOAT_BITS,) for c in corners)
