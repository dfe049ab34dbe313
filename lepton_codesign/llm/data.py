"""An offline next-token data set: a seeded k-th order Markov language (no download).

The source is a random Markov chain over ``vocab`` tokens: every context of ``order``
previous tokens has its own next-token distribution, drawn from a symmetric Dirichlet
with a small ``concentration`` (sparse rows: a few likely successors per context). The
first ``order`` tokens of a sequence are uniform. A model that learns the table reaches
the Bayes accuracy (``bayes_accuracy``; about 0.6 with the defaults, against chance
``1 / vocab`` = 0.03), so training progress is easy to see in a few epochs on a CPU.

Inputs are ``x = seq[:, :-1]`` and labels ``y = seq[:, 1:]`` (``(examples, seq_len)``
each; ``x`` as float32 like every ``lepton_codesign.data.Dataset``, holding integers),
for ``lepton_codesign.llm.TokenLM`` and ``lepton_codesign.train``.

Example:
    >>> ds = load_lm_synth(num_train=8, num_test=4, seq_len=16)
    >>> ds.train[0].shape, ds.train[1].shape, ds.num_classes
    ((8, 16), (8, 16), 32)
"""

from __future__ import annotations

import numpy as np

from lepton_codesign.data import Dataset


def markov_table(vocab: int = 32, order: int = 1, concentration: float = 0.05,
                 seed: int = 0) -> np.ndarray:
    """Next-token probabilities, shape ``(vocab,) * order + (vocab,)``.

    Example:
        >>> markov_table(4, 1, seed=0).sum(-1).round(6).tolist()
        [1.0, 1.0, 1.0, 1.0]
    """
    for name, v, lo in (("vocab", vocab, 2), ("order", order, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"{name}={v!r} is not allowed; allowed: an integer >= {lo}")
    if not (np.isfinite(concentration) and concentration > 0):
        raise ValueError(f"concentration={concentration!r}; allowed: a finite number > 0")
    rng = np.random.default_rng(seed)
    table = rng.dirichlet(np.full(vocab, float(concentration)), size=vocab ** order)
    return table.reshape((vocab,) * order + (vocab,))


def sample_sequences(table: np.ndarray, n: int, length: int, seed: int) -> np.ndarray:
    """``n`` token sequences of ``length`` from the chain (int32)."""
    vocab, order = table.shape[-1], table.ndim - 1
    rng = np.random.default_rng(seed)
    seq = np.empty((n, length), np.int64)
    seq[:, :order] = rng.integers(0, vocab, size=(n, min(order, length)))
    cdf = np.cumsum(table.reshape(-1, vocab), axis=-1)
    strides = vocab ** np.arange(order - 1, -1, -1)
    for t in range(order, length):
        ctx = seq[:, t - order:t] @ strides
        u = rng.random(n)[:, None]
        seq[:, t] = np.minimum((u > cdf[ctx]).sum(-1), vocab - 1)
    return seq.astype(np.int32)


def bayes_accuracy(table: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of the true chain's argmax on ``(x, y)`` (positions with a full context).

    The ceiling a model can reach on average; positions before ``order`` tokens of
    context are excluded (their labels are uniform).
    """
    vocab, order = table.shape[-1], table.ndim - 1
    x, y = np.asarray(x, np.int64), np.asarray(y, np.int64)
    best = table.reshape(-1, vocab).argmax(-1)
    strides = vocab ** np.arange(order - 1, -1, -1)
    hits = []
    for t in range(order - 1, x.shape[1]):
        ctx = x[:, t - order + 1:t + 1] @ strides
        hits.append(best[ctx] == y[:, t])
    return float(np.mean(hits))


def load_lm_synth(*, num_train: int = 2000, num_test: int = 500, seq_len: int = 32,
                  vocab: int = 32, order: int = 1, concentration: float = 0.05,
                  seed: int = 0) -> Dataset:
    """The synthetic language as a ``Dataset`` (``num_classes = vocab``).

    Args:
        num_train, num_test: sequences per split (disjoint samples of the same chain).
        seq_len: tokens per input (labels are the inputs shifted by one).
        vocab: tokens (32 = the ``tiny`` shape's vocabulary).
        order: context length of the chain.
        concentration: Dirichlet concentration of each next-token row (smaller: more
            predictable).
        seed: seed of the table and of both splits.
    """
    for name, v in (("num_train", num_train), ("num_test", num_test), ("seq_len", seq_len)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}={v!r} is not allowed; allowed: an integer >= 1")
    table = markov_table(vocab, order, concentration, seed)
    tr = sample_sequences(table, num_train, seq_len + 1, seed + 1)
    te = sample_sequences(table, num_test, seq_len + 1, seed + 2)
    split = lambda s: (s[:, :-1].astype(np.float32), s[:, 1:].astype(np.int32))
    return Dataset(split(tr), split(te), vocab, "lm-synth")
