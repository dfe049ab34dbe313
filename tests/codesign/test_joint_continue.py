"""A promoted fine-tune continues its rung below (learned gates from their soft state,
fixed form from its weights and masks), trains only the epochs it adds, and gives the
same model when the rung below's checkpoint is missing."""

import numpy as np
import pytest

from lepton_codesign.codesign import finetune
from lepton_codesign.codesign.candidate import Candidate


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from lepton_codesign.data import load_digits

    ds = load_digits()
    tmp = tmp_path_factory.mktemp("cont")
    task = {"model": "mlp", "data": {"dataset": "digits", "max_train": 300, "max_test": 100},
            "train": {"epochs": 2, "batch_size": 64, "learning_rate": 3e-3}, "seed": 0,
            "val_fraction": 0.25, "learning_rate": 1e-3, "hw_spec": "gemmini-like",
            "hw_metric": "energy", "arrays": (ds.train, ds.test),
            "dense_path": str(tmp / "dense.npz")}
    dense = finetune.train_dense(task)
    return {**task, "layers": dense["layers"], "features": dense["features"]}


def _rung(base, folder, cand, rung, epochs, below, final=False, index=3, **extra):
    (folder / "rungs").mkdir(exist_ok=True)
    return finetune.run_rung({**base, "checkpoint_dir": str(folder / "rungs"), "index": index,
                              "candidate": cand.to_dict(), "rung": rung, "epochs": epochs,
                              "final": final, "rungs_below": below, **extra})


@pytest.mark.slow
def test_a_refit_trains_its_last_stretch_on_the_validation_examples_too(base, tmp_path,
                                                                        monkeypatch):
    import importlib

    # the module, not the package's ``train`` function of the same name
    train_module = importlib.import_module("lepton_codesign.train")
    seen, real = [], train_module.train

    def counted(model, data, *args, **kwargs):
        seen.append((len(data[1]), {tuple(row) for row in np.asarray(data[0])}))
        return real(model, data, *args, **kwargs)

    monkeypatch.setattr(train_module, "train", counted)
    cand = Candidate("unstructured", 0.6, weight_bits=(4,), act_bits=8, allocation="uniform")
    first = _rung(base, tmp_path, cand, 0, 2, [])
    plain = _rung(base, tmp_path, cand, 1, 4, [2], final=True)
    refit = _rung(base, tmp_path, cand, 1, 4, [2], final=True, refit=True,
                  val_below=first["val_accuracy"])
    fit, val, _ = finetune.split_data(base)
    fit_rows, val_rows = ({tuple(r) for r in x} for x in (fit[0], val[0]))
    n_fit = len(fit[1])
    assert seen[0] == seen[1] == (n_fit, fit_rows)  # rung 0, the plain continuation
    # the refit: every validation example, the rest drawn from the fit split, as many
    # rows as the fit split (the same compiled step)
    assert len(seen) == 3 and seen[2][0] == n_fit
    assert val_rows <= seen[2][1] and seen[2][1] - val_rows < fit_rows
    assert refit["refit"] is True and "refit" not in plain
    assert refit["val_accuracy"] == first["val_accuracy"]  # what it was promoted on
    assert 0.0 <= refit["refit_val_accuracy"] <= 1.0
    assert refit["from_epochs"] == plain["from_epochs"] == 2
    with pytest.raises(ValueError, match="rung below"):  # a seed has nothing to refit after
        _rung(base, tmp_path, cand, 1, 4, [], final=True, refit=True, val_below=0.5)


@pytest.mark.slow
def test_promotion_continues_and_a_missing_checkpoint_gives_the_same_model(base, tmp_path):
    cand = Candidate("unstructured", 0.6, weight_bits=(4,), act_bits=8, allocation="uniform")
    first = _rung(base, tmp_path, cand, 0, 2, [])
    ckpt = tmp_path / "rungs" / "c00003_e2.npz"
    assert first["from_epochs"] == 0 and ckpt.is_file()  # kept for the next rung
    cont = _rung(base, tmp_path, cand, 1, 5, [2], final=True)
    assert cont["from_epochs"] == 2 and cont["epochs"] == 5
    # a rung re-run (after a crash before its record) starts from the rung below again,
    # not from its own checkpoint
    mid = _rung(base, tmp_path, cand, 1, 5, [2])
    assert (tmp_path / "rungs" / "c00003_e5.npz").is_file()
    again_mid = _rung(base, tmp_path, cand, 1, 5, [2])
    assert again_mid["compression"] == mid["compression"] == cont["compression"]
    assert again_mid["val_accuracy"] == mid["val_accuracy"] == cont["val_accuracy"]
    ckpt.unlink()  # as after a crash that lost it: the rung below is re-run first
    again = _rung(base, tmp_path, cand, 1, 5, [2], final=True)
    assert again["val_accuracy"] == cont["val_accuracy"]
    assert again["accuracy"] == cont["accuracy"]
    assert again["compression"] == cont["compression"]
    # continuing is not training 5 epochs afresh from the dense model
    other = tmp_path / "fresh"
    other.mkdir()
    fresh = _rung(base, other, cand, 1, 5, [], final=True)
    assert fresh["from_epochs"] == 0
    assert (fresh["val_accuracy"], fresh["compression"]) != (cont["val_accuracy"],
                                                             cont["compression"])
    np.testing.assert_allclose(cont["compression"]["weight_density"], 0.4, atol=0.02)


@pytest.mark.slow
def test_structure_is_reported_and_every_kind_continues(base, tmp_path):
    nm_cand = Candidate("nm", nm=(1, 4), weight_bits=(4,), act_bits=8)
    assert finetune.fixed_form_ok(nm_cand, nm_cand.policy(base["layers"]))
    nm = _rung(base, tmp_path, nm_cand, 0, 1, [], index=4)
    assert set(nm["compression"]["structure"]) == {1}  # N:M, not the training form's
    np.testing.assert_allclose(nm["compression"]["weight_density"], 0.25, atol=0.02)
    for index, cand in ((5, Candidate("unstructured", 0.5, weight_bits=(4,), act_bits=8,
                                      allocation="learned")),
                        (7, Candidate("unstructured", 0.5, weight_bits=(4,), act_bits=8))):
        assert not finetune.fixed_form_ok(cand, cand.policy(base["layers"]))  # gates
        _rung(base, tmp_path, cand, 0, 1, [], index=index)
        assert (tmp_path / "rungs" / f"c{index:05d}_e1.npz").is_file()
        rec = _rung(base, tmp_path, cand, 1, 2, [1], final=True, index=index)
        assert rec["from_epochs"] == 1  # learned gates continue from their soft state
        (tmp_path / "rungs" / f"c{index:05d}_e1.npz").unlink()
        again = _rung(base, tmp_path, cand, 1, 2, [1], final=True, index=index)
        assert (again["accuracy"], again["compression"]) == (rec["accuracy"],
                                                             rec["compression"])


@pytest.mark.slow
def test_an_unreadable_checkpoint_is_re_run(base, tmp_path):
    cand = Candidate("nm", nm=(2, 4), weight_bits=(6,), act_bits=8)
    _rung(base, tmp_path, cand, 0, 1, [], index=6)
    good = _rung(base, tmp_path, cand, 1, 2, [1], final=True, index=6)
    (tmp_path / "rungs" / "c00006_e1.npz").write_bytes(b"torn")
    again = _rung(base, tmp_path, cand, 1, 2, [1], final=True, index=6)
    assert again["accuracy"] == good["accuracy"]
    assert again["compression"] == good["compression"]
