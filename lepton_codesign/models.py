"""Built-in example models (Flax NNX), by name, for the CLI and examples.

Each entry builds ``(model, example_input)``. Shapes are the usual ones for each
family; ``batch`` sets the leading dimension of the example input.

Example:
    >>> model, x = build_model("mlp")
    >>> x.shape
    (1, 40)
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from lepton_codesign.factories import call_factory


class MLP(nnx.Module):
    """Fully connected network, e.g. 40-256-256-10 for MNIST-1D (Greydanus 2020)."""

    def __init__(self, sizes=(40, 256, 256, 10), *, rngs: nnx.Rngs):
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:], strict=False)])

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nnx.relu(layer(x))
        return self.layers[-1](x)


class CNN1D(nnx.Module):
    """Small 1-D CNN of the MNIST-1D paper: 3 strided convs of 25 channels + linear."""

    def __init__(self, length: int = 40, channels: int = 25, classes: int = 10, *,
                 rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, channels, (5,), strides=2, padding=1, rngs=rngs)
        self.conv2 = nnx.Conv(channels, channels, (3,), strides=2, padding=1, rngs=rngs)
        self.conv3 = nnx.Conv(channels, channels, (3,), strides=2, padding=1, rngs=rngs)
        out_len = length
        for k, s, p in ((5, 2, 1), (3, 2, 1), (3, 2, 1)):
            out_len = (out_len + 2 * p - k) // s + 1
        self.fc = nnx.Linear(channels * out_len, classes, rngs=rngs)

    def __call__(self, x):
        x = x[..., None] if x.ndim == 2 else x
        x = nnx.relu(self.conv1(x))
        x = nnx.relu(self.conv2(x))
        x = nnx.relu(self.conv3(x))
        return self.fc(x.reshape(x.shape[0], -1))


class LeNet(nnx.Module):
    """LeNet-5-style CNN for 28x28x1 images."""

    def __init__(self, classes: int = 10, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, 6, (5, 5), padding="SAME", rngs=rngs)
        self.conv2 = nnx.Conv(6, 16, (5, 5), padding="VALID", rngs=rngs)
        self.fc1 = nnx.Linear(16 * 5 * 5, 120, rngs=rngs)
        self.fc2 = nnx.Linear(120, 84, rngs=rngs)
        self.fc3 = nnx.Linear(84, classes, rngs=rngs)

    def __call__(self, x):
        x = nnx.avg_pool(nnx.relu(self.conv1(x)), (2, 2), (2, 2))
        x = nnx.avg_pool(nnx.relu(self.conv2(x)), (2, 2), (2, 2))
        x = x.reshape(x.shape[0], -1)
        return self.fc3(nnx.relu(self.fc2(nnx.relu(self.fc1(x)))))


class BasicBlock(nnx.Module):
    """ResNet basic block (two 3x3 convs, projection shortcut when shapes change)."""

    def __init__(self, cin: int, cout: int, stride: int, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(cin, cout, (3, 3), strides=stride, padding=1, use_bias=False,
                              rngs=rngs)
        self.conv2 = nnx.Conv(cout, cout, (3, 3), padding=1, use_bias=False, rngs=rngs)
        self.proj = (nnx.Conv(cin, cout, (1, 1), strides=stride, use_bias=False, rngs=rngs)
                     if stride != 1 or cin != cout else None)

    def __call__(self, x):
        y = self.conv2(nnx.relu(self.conv1(x)))
        return nnx.relu(y + (self.proj(x) if self.proj is not None else x))


class ResNet18(nnx.Module):
    """ResNet-18 (He et al. 2016) for ImageNet-size inputs, without batch norm."""

    def __init__(self, classes: int = 1000, width: int = 64, *, rngs: nnx.Rngs):
        self.stem = nnx.Conv(3, width, (7, 7), strides=2, padding=3, use_bias=False, rngs=rngs)
        blocks, cin = [], width
        for stage, cout in enumerate((width, 2 * width, 4 * width, 8 * width)):
            for i in range(2):
                stride = 2 if (stage > 0 and i == 0) else 1
                blocks.append(BasicBlock(cin, cout, stride, rngs=rngs))
                cin = cout
        self.blocks = nnx.List(blocks)
        self.fc = nnx.Linear(cin, classes, rngs=rngs)

    def __call__(self, x):
        x = nnx.max_pool(nnx.relu(self.stem(x)), (3, 3), (2, 2), padding="SAME")
        for block in self.blocks:
            x = block(x)
        return self.fc(x.mean(axis=(1, 2)))


class MobileNetBlock(nnx.Module):
    """MobileNetV2 inverted residual: 1x1 expand, 3x3 depthwise, 1x1 project."""

    def __init__(self, cin: int, cout: int, expand: int, stride: int, *, rngs: nnx.Rngs):
        hidden = cin * expand
        self.expand = nnx.Conv(cin, hidden, (1, 1), use_bias=False, rngs=rngs)
        self.depthwise = nnx.Conv(hidden, hidden, (3, 3), strides=stride, padding=1,
                                  feature_group_count=hidden, use_bias=False, rngs=rngs)
        self.project = nnx.Conv(hidden, cout, (1, 1), use_bias=False, rngs=rngs)
        self.residual = stride == 1 and cin == cout

    def __call__(self, x):
        y = self.project(nnx.relu6(self.depthwise(nnx.relu6(self.expand(x)))))
        return x + y if self.residual else y


class MobileNet(nnx.Module):
    """A small MobileNetV2-style network for 32x32x3 inputs."""

    def __init__(self, classes: int = 10, *, rngs: nnx.Rngs):
        self.stem = nnx.Conv(3, 16, (3, 3), padding=1, use_bias=False, rngs=rngs)
        cfg = [(16, 24, 6, 2), (24, 24, 6, 1), (24, 32, 6, 2), (32, 64, 6, 2)]
        self.blocks = nnx.List([MobileNetBlock(*c, rngs=rngs) for c in cfg])
        self.fc = nnx.Linear(64, classes, rngs=rngs)

    def __call__(self, x):
        x = nnx.relu6(self.stem(x))
        for block in self.blocks:
            x = block(x)
        return self.fc(x.mean(axis=(1, 2)))


class TransformerBlock(nnx.Module):
    """Pre-norm transformer encoder block: multi-head attention + MLP."""

    def __init__(self, dim: int = 64, heads: int = 4, mlp_ratio: int = 4, *, rngs: nnx.Rngs):
        self.norm1 = nnx.LayerNorm(dim, rngs=rngs)
        self.attn = nnx.MultiHeadAttention(num_heads=heads, in_features=dim, decode=False,
                                           rngs=rngs)
        self.norm2 = nnx.LayerNorm(dim, rngs=rngs)
        self.fc1 = nnx.Linear(dim, dim * mlp_ratio, rngs=rngs)
        self.fc2 = nnx.Linear(dim * mlp_ratio, dim, rngs=rngs)

    def __call__(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(nnx.gelu(self.fc1(self.norm2(x))))


class Transformer(nnx.Module):
    """A small transformer classifier over token features (seq 32, dim 64, 2 blocks)."""

    def __init__(self, dim: int = 64, depth: int = 2, classes: int = 10, *, rngs: nnx.Rngs):
        self.blocks = nnx.List([TransformerBlock(dim, rngs=rngs) for _ in range(depth)])
        self.head = nnx.Linear(dim, classes, rngs=rngs)

    def __call__(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x.mean(axis=1))


_BUILTINS: dict[str, tuple[Callable[[nnx.Rngs], nnx.Module], tuple[int, ...]]] = {
    "mlp": (lambda r, f=40: MLP((f, 256, 256, 10), rngs=r), (40,)),
    "cnn1d": (lambda r, f=40: CNN1D(length=f, rngs=r), (40,)),
    "lenet": (lambda r: LeNet(rngs=r), (28, 28, 1)),
    "resnet18": (lambda r: ResNet18(rngs=r), (224, 224, 3)),
    "mobilenet": (lambda r: MobileNet(rngs=r), (32, 32, 3)),
    "transformer": (lambda r: Transformer(rngs=r), (32, 64)),
    "tiny-lm": (lambda r: _tiny_lm(r), (32,)),
}


def _tiny_lm(rngs: nnx.Rngs) -> nnx.Module:
    from lepton_codesign.llm import TokenLM, llm_config  # decoder LM on 32 tokens (lm-synth)

    return TokenLM(llm_config("tiny"), rngs=rngs)


def model_names() -> list[str]:
    """Names accepted by ``build_model``."""
    return sorted(_BUILTINS)


def build_model(name: str, batch: int = 1, seed: int = 0, features: int | None = None,
                abstract: bool = False):
    """Build a built-in model or a user factory and its example input.

    Args:
        name: a built-in name (``model_names()``) or ``"package.module:function"``, a
            factory returning ``(module, example_input)``; it receives ``batch``,
            ``seed`` and ``features`` if it takes them, otherwise its example input is
            re-batched and checked (``lepton_codesign.factories``). Naming a factory
            imports and runs that code.
        batch: leading dimension of the example input: the batch the costs are for.
        seed: parameter initialisation seed.
        features: input width of the vector models (``mlp``, ``cnn1d``), e.g. 64 for
            the digits data set; ignored by the image / token models.
        abstract: return the example input as a ``jax.ShapeDtypeStruct`` (shape and
            dtype only): enough for ``extract_workload`` at any batch, no memory used.

    Returns:
        ``(model, example_input)``.

    Raises:
        ValueError: unknown name, a factory that cannot be imported, or a batch that
            cannot be honoured.
    """
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise ValueError(f"batch: {batch!r} is not allowed; allowed: an integer >= 1")
    if name in _BUILTINS:
        rngs = nnx.Rngs(seed)
        ctor, shape = _BUILTINS[name]
        make = jax.ShapeDtypeStruct if abstract else jnp.zeros
        if features is not None and name in ("mlp", "cnn1d"):
            return ctor(rngs, features), make((batch, features), jnp.float32)
        return ctor(rngs), make((batch, *shape), jnp.float32)
    if ":" not in name:
        from lepton_codesign.codesign.devices import did_you_mean

        raise ValueError(f"unknown model {name!r}{did_you_mean(name, model_names())}; "
                         f"allowed: {model_names()} or "
                         "package.module:function")
    return call_factory(name, batch, seed=seed, features=features, abstract=abstract)
