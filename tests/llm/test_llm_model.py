"""The decoder-only transformer: KV-cache consistency, configs, the toy data, training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lepton_codesign.hw_models.llm_workload import LlmShape
from lepton_codesign.llm import DecoderLM, TokenLM, llm_config, llm_config_names, param_count
from lepton_codesign.llm.configs import published_params
from lepton_codesign.llm.data import bayes_accuracy, load_lm_synth, markov_table

MQA_TIED = LlmShape("mqa", n_layers=2, d_model=32, n_heads=4, n_kv_heads=1, d_ff=48, vocab=40,
                    gated_ffn=False, tied_embeddings=True)


def _jitted(lm):
    """``lm(tokens, cache, pos, last_only)`` compiled once per shape / position (eager
    dispatch of every small op is slow on a busy CPU)."""
    graphdef, state = nnx.split(lm)
    fn = jax.jit(lambda s, t, c, pos, last: nnx.merge(graphdef, s)(t, c, pos, last),
                 static_argnums=(3, 4))
    return lambda t, c=None, pos=0, last_only=False: fn(state, t, c, pos, last_only)


@pytest.mark.parametrize("shape", [llm_config("tiny"), MQA_TIED], ids=["gqa", "mqa-tied"])
def test_decode_after_prefill_equals_full_forward(shape):
    lm = DecoderLM(shape, rngs=nnx.Rngs(0))
    step = _jitted(lm)
    graphdef, state = nnx.split(lm)
    decode = jax.jit(lambda t, c, p: nnx.merge(graphdef, state)(t, c, p))
    toks = jax.random.randint(jax.random.key(1), (2, 10), 0, shape.vocab)
    full, kv = step(toks)
    assert kv[0][0].shape == (2, 10, shape.n_kv_heads, shape.head_dim)
    cache = lm.init_cache(2, 12)
    logits, cache = step(toks[:, :6], cache, 0)
    np.testing.assert_allclose(logits, full[:, :6], atol=1e-4)
    for p in range(6, 10):  # one compiled decode step: a traced position
        logits, cache = decode(toks[:, p:p + 1], cache, jnp.int32(p))
        np.testing.assert_allclose(logits[:, 0], full[:, p], atol=1e-4)
    # the cache holds exactly the keys / values of the full pass, zeros after
    np.testing.assert_allclose(cache[1][0][:, :10], kv[1][0], atol=1e-5)
    assert not np.any(np.asarray(cache[1][0][:, 10:]))


def test_chunked_prefill_and_last_only_logits():
    lm = DecoderLM(llm_config("tiny"), rngs=nnx.Rngs(3))
    step = _jitted(lm)
    toks = jax.random.randint(jax.random.key(2), (1, 9), 0, 32)
    full, _ = step(toks)
    cache = lm.init_cache(1, 9)
    _, cache = step(toks[:, :4], cache, 0)
    last, _ = step(toks[:, 4:], cache, 4, last_only=True)
    assert last.shape == (1, 1, 32)
    np.testing.assert_allclose(last[:, 0], full[:, -1], atol=1e-4)


def test_bad_steps_are_refused():
    lm = DecoderLM(llm_config("tiny"), rngs=nnx.Rngs(0))
    toks = jnp.zeros((1, 3), jnp.int32)
    with pytest.raises(ValueError, match="exceeds the cache length 4"):
        lm(toks, lm.init_cache(1, 4), 2)
    with pytest.raises(ValueError, match="cache: 1 layers given"):
        lm(toks, lm.init_cache(1, 4)[:1], 0)
    with pytest.raises(ValueError, match="pos=-1"):
        lm(toks, None, -1)
    with pytest.raises(ValueError, match="pos=0.5"):
        lm(toks, None, 0.5)
    with pytest.raises(ValueError, match="head_dim=3 must be even"):
        DecoderLM(LlmShape("odd", 1, 12, 4, 4, 8, 10), rngs=nnx.Rngs(0))


def test_gqa_does_not_repeat_kv_heads():
    """The score product reads the (batch, s, kv_heads, head_dim) keys as they are."""
    lm = DecoderLM(llm_config("tiny"), rngs=nnx.Rngs(0))
    jaxpr = jax.make_jaxpr(lambda t: lm(t)[0])(jnp.zeros((2, 5), jnp.int32))
    dots = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "dot_general"
            and len(e.invars[1].aval.shape) == 4]
    assert len(dots) == 4  # scores and values, two layers
    for e in dots:
        assert e.invars[1].aval.shape == (2, 5, 2, 16)  # kv_heads = 2, not n_heads = 4


def test_configs_and_published_parameter_counts():
    names = llm_config_names()
    for need in ("tiny", "llama2-7b", "llama3-8b", "llama2-70b", "mistral-7b"):
        assert need in names
    for name in names:
        pub = published_params(name)
        if pub is not None:  # published counts are rounded to 3 significant digits
            assert abs(param_count(llm_config(name)) / pub - 1) < 0.01, name
    assert param_count(llm_config("llama2-7b")) == 6_738_415_616
    with pytest.raises(ValueError, match="did you mean 'llama2-70b'"):
        llm_config("llama2-70")
    with pytest.raises(ValueError, match="allowed"):
        llm_config(7)


def test_synthetic_language_is_seeded_and_learnable():
    a, b = load_lm_synth(num_train=20, num_test=5), load_lm_synth(num_train=20, num_test=5)
    np.testing.assert_array_equal(a.train[0], b.train[0])
    np.testing.assert_array_equal(a.train[0][:, 1:], a.train[1][:, :-1])  # shifted by one
    assert a.train[1].dtype == np.int32 and a.train[0].max() < 32
    ceiling = bayes_accuracy(markov_table(), *load_lm_synth(num_test=200).test)
    assert 0.4 < ceiling < 0.8  # far above chance (1/32), below certainty
    with pytest.raises(ValueError, match="vocab"):
        markov_table(vocab=1)
    with pytest.raises(ValueError, match="seq_len"):
        load_lm_synth(seq_len=0)


def test_builtin_names():
    from lepton_codesign.data import load_dataset
    from lepton_codesign.models import build_model

    model, x = build_model("tiny-lm", batch=3)
    assert isinstance(model, TokenLM) and x.shape == (3, 32)
    assert jax.eval_shape(lambda: model(x)).shape == (3, 32, 32)
    assert load_dataset("lm-synth", num_train=4, num_test=2).name == "lm-synth"


def test_tiny_lm_trains_above_chance():
    from lepton_codesign.train import TrainConfig, train

    ds = load_lm_synth(num_train=1000, num_test=200)
    res = train(TokenLM(llm_config("tiny"), rngs=nnx.Rngs(0)), ds.train, ds.test,
                TrainConfig(epochs=2, batch_size=50, learning_rate=3e-3, progress=False),
                key=jax.random.key(0))
    loss = res.history["loss"]
    assert loss[-1] < loss[0] < np.log(32) + 0.5
    chance = 1 / 32
    assert res.metrics["test_accuracy"] > 8 * chance
    assert res.metrics["test_accuracy"] <= bayes_accuracy(markov_table(), *ds.test) + 0.05
    assert "layers/0/attn/matmul0" in res.workload.names


@pytest.mark.slow
def test_tiny_lm_goes_through_codesign(tmp_path):
    from lepton_codesign.codesign.pipeline import codesign

    cfg = {
        "run": {"name": "tinylm", "seed": 0},
        "data": {"dataset": "lm-synth", "max_train": 384, "max_test": 64},
        "model": {"name": "tiny-lm", "batch": 1},
        "train": {"epochs": 2, "batch_size": 32, "learning_rate": 3e-3},
        "points": [{"name": "int8", "weight_bits": 8, "act_bits": 8}],
        "hardware": {"families": ["asic", "gpu"]},
        "asic": {"pop_size": 4, "generations": 1},
        "gpu": {"devices": ["t4"]},
    }
    res = codesign(config=cfg, out_dir=tmp_path, progress=False)
    assert res.trials[0]["accuracy"] > 8 / 32
    assert {p["family"] for p in res.points} == {"asic", "gpu"}
    assert res.chosen is not None and (tmp_path / "report.md").is_file()
    assert any(n.endswith("attn/matmul0") for n in res.trials[0]["layers"])
