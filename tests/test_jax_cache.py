"""The persistent compilation cache of ``search`` / ``serve``: where it goes, how to turn
it off, and that a compile is written there."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from lepton_codesign import jax_cache


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("LEPTON_JAX_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert jax_cache.cache_dir() == tmp_path / "lepton-codesign" / "jax"
    monkeypatch.setenv("LEPTON_JAX_CACHE", str(tmp_path / "mine"))
    assert jax_cache.cache_dir() == tmp_path / "mine"
    for off in ("off", "0", "", "OFF", "false"):
        monkeypatch.setenv("LEPTON_JAX_CACHE", off)
        assert jax_cache.cache_dir() is None
        assert jax_cache.enable_compilation_cache() is None


def test_an_unwritable_place_runs_without_a_cache(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("LEPTON_JAX_CACHE", str(blocker / "sub"))
    assert jax_cache.enable_compilation_cache() is None


def test_compiles_are_kept_on_disk(monkeypatch, tmp_path):
    keys = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
            "jax_persistent_cache_min_entry_size_bytes")
    before = {k: getattr(jax.config, k) for k in keys}
    # an earlier command in this process may already have opened a cache elsewhere
    jax.jit(lambda x: x * 2.5)(jnp.arange(3.0)).block_until_ready()
    monkeypatch.setenv("LEPTON_JAX_CACHE", str(tmp_path / "other"))
    jax_cache.enable_compilation_cache()
    jax.jit(lambda x: x * 3.5 - 1.0)(jnp.arange(5.0)).block_until_ready()
    monkeypatch.setenv("LEPTON_JAX_CACHE", str(tmp_path / "cache"))
    try:
        assert jax_cache.enable_compilation_cache() == tmp_path / "cache"
        jax.jit(lambda x: jnp.sin(x) * 3.0 + 1.25)(jnp.arange(7.0)).block_until_ready()
        assert any((tmp_path / "cache").iterdir())
    finally:
        for k, v in before.items():
            jax.config.update(k, v)
        from jax.experimental.compilation_cache import compilation_cache

        compilation_cache.reset_cache()


if __name__ == "__main__":
    pytest.main([__file__])
