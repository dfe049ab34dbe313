"""``codesign(data=...)`` checks the model that the trials will train (same ``features``)."""

import sys
import textwrap

import numpy as np

from lepton_codesign.codesign.userdata import check_user_data

FACTORY = textwrap.dedent("""
    import jax.numpy as jnp
    from flax import nnx

    SEEN = []

    class Img(nnx.Module):
        def __init__(self, width, rngs):
            self.fc = nnx.Linear(width * width, 3, rngs=rngs)
        def __call__(self, x):
            return self.fc(x.reshape(x.shape[0], -1))

    def img(features=None):
        SEEN.append(features)
        return Img(features, nnx.Rngs(0)), jnp.zeros((1, features, features))
""")


def test_factory_sees_the_features_the_trials_will_pass(tmp_path, monkeypatch):
    (tmp_path / "userdata_factory_t.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        x = np.zeros((12, 6, 6), np.float32)
        y = np.arange(12) % 3
        check_user_data(((x, y), (x[:4], y[:4])), "userdata_factory_t:img",
                        {"max_train": 100, "max_test": 100})
        assert sys.modules["userdata_factory_t"].SEEN == [6]  # trials: int(x.shape[1])
    finally:
        sys.modules.pop("userdata_factory_t", None)
