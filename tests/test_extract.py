"""extract_workload: MAC totals equal analytic counts; names, kinds, transforms."""

import jax
import jax.numpy as jnp
import pytest
from flax import nnx

from lepton_codesign.extract import extract_workload
from lepton_codesign.models import MLP, MobileNetBlock, ResNet18, TransformerBlock


def test_mlp_macs_and_names():
    model = MLP((40, 256, 256, 10), rngs=nnx.Rngs(0))
    wl = extract_workload(model, jnp.zeros((8, 40)))
    assert wl.names == ("layers/0", "layers/1", "layers/2")
    assert int(wl.total_macs) == 8 * (40 * 256 + 256 * 256 + 256 * 10)
    assert wl.batch == 8


def _resnet18_macs(h: int, width: int = 64, classes: int = 1000) -> int:
    """Analytic ResNet-18 MACs: stem 7x7/2, 4 stages of 2 basic blocks, fc."""
    out = lambda s, k, st, p: (s + 2 * p - k) // st + 1
    s = out(h, 7, 2, 3)
    macs = s * s * 64 * 3 * 49 * width // 64
    s = (s + 1) // 2  # 3x3/2 max pool, SAME
    cin = width
    for stage, cout in enumerate((width, 2 * width, 4 * width, 8 * width)):
        for i in range(2):
            st = 2 if stage > 0 and i == 0 else 1
            so = out(s, 3, st, 1)
            macs += so * so * cout * cin * 9 + so * so * cout * cout * 9
            if st != 1 or cin != cout:
                macs += so * so * cout * cin
            s, cin = so, cout
    return macs + cin * classes


def test_resnet18_macs():
    model = ResNet18(rngs=nnx.Rngs(0))
    wl = extract_workload(model, jax.ShapeDtypeStruct((1, 224, 224, 3), jnp.float32))
    assert int(wl.total_macs) == _resnet18_macs(224) == 1814073344
    assert wl.kinds.count("conv") == 20 and wl.kinds.count("dense") == 1
    stem = wl.names.index("stem")
    assert (int(wl.m[stem]), int(wl.k[stem]), int(wl.n[stem])) == (112 * 112, 147, 64)
    assert int(wl.stride[stem]) == 2


def test_mobilenet_block_depthwise():
    block = MobileNetBlock(16, 24, 6, 2, rngs=nnx.Rngs(0))
    wl = extract_workload(block, jnp.zeros((2, 16, 16, 16)))
    hidden, ho = 96, 8
    expected = 2 * (16 * 16 * 16 * hidden + ho * ho * hidden * 9 + ho * ho * hidden * 24)
    assert int(wl.total_macs) == expected
    dw = wl.names.index("depthwise")
    assert int(wl.groups[dw]) == hidden and int(wl.k[dw]) == 9 and int(wl.n[dw]) == 1


def test_transformer_block_attention_matmuls():
    dim, heads, seq, batch = 64, 4, 32, 2
    block = TransformerBlock(dim, heads, rngs=nnx.Rngs(0))
    wl = extract_workload(block, jnp.zeros((batch, seq, dim)))
    per_seq = (4 * seq * dim * dim + 2 * seq * seq * dim + 2 * seq * dim * 4 * dim)
    assert int(wl.total_macs) == batch * per_seq
    matmuls = [i for i, k in enumerate(wl.kinds) if k == "matmul"]
    assert len(matmuls) == 2
    assert all(int(wl.groups[i]) == batch * heads for i in matmuls)
    assert all(wl.names[i].startswith("attn/") for i in matmuls)


def test_plain_function_jit_remat_scan():
    params = {"enc": {"w": jnp.ones((16, 32))}, "blocks": {"w": jnp.ones((3, 32, 32))}}

    @jax.jit
    def fn(p, x):
        x = jax.checkpoint(lambda x: x @ p["enc"]["w"])(x)
        x, _ = jax.lax.scan(lambda c, w: (jnp.tanh(c @ w), None), x, p["blocks"]["w"])
        return x

    wl = extract_workload(fn, params, jnp.ones((4, 16)))
    assert wl.names == ("enc", "blocks")
    assert int(wl.groups[1]) == 3
    assert int(wl.total_macs) == 4 * 16 * 32 + 3 * 4 * 32 * 32


def test_masked_kernel_is_still_a_weight():
    class Masked(nnx.Module):
        def __init__(self, rngs):
            self.fc = nnx.Linear(8, 4, rngs=rngs)
            self.mask = nnx.Variable(jnp.ones((8, 4)))

        def __call__(self, x):
            w = jnp.round(self.fc.kernel[...] * self.mask[...] * 7) / 7
            return x @ w

    wl = extract_workload(Masked(nnx.Rngs(0)), jnp.ones((1, 8)))
    assert wl.kinds == ("dense",) and wl.names == ("fc",)


def test_no_gemm_raises():
    with pytest.raises(ValueError, match="no dot_general"):
        extract_workload(lambda x: x * 2, jnp.ones(3))


def test_shared_module_called_twice_gets_unique_names():
    class Twice(nnx.Module):
        def __init__(self, rngs):
            self.fc = nnx.Linear(4, 4, rngs=rngs)

        def __call__(self, x):
            return self.fc(self.fc(x))

    wl = extract_workload(Twice(nnx.Rngs(0)), jnp.ones((1, 4)))
    assert wl.names == ("fc", "fc#2")
