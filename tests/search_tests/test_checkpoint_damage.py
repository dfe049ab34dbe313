"""A damaged checkpoint or result file is a clear error naming the file, never a traceback."""

import jax
import numpy as np
import pytest

from lepton_codesign.search import checkpoint as ckpt
from lepton_codesign.search import nsga2, problems, run
from lepton_codesign.search.results import SearchResult


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 torn", b"not a zip at all"])
def test_damaged_checkpoint_names_the_file(tmp_path, content):
    path = tmp_path / "asic_search.npz"
    path.write_bytes(content)
    with pytest.raises(ckpt.CheckpointError, match="damaged checkpoint") as err:
        ckpt.load(path)
    assert str(path) in str(err.value) and "delete it" in str(err.value)


def test_truncated_checkpoint_and_missing_entries_in_run(tmp_path):
    p = problems.zdt1(n_var=4)
    path = tmp_path / "ck.npz"
    run(nsga2(8), p.objective, p.space, key=jax.random.key(0), budget=16,
        ref_point=p.ref_point, checkpoint=path, progress=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ckpt.CheckpointError, match="ck.npz: damaged checkpoint"):
        run(nsga2(8), p.objective, p.space, key=jax.random.key(0), budget=24,
            ref_point=p.ref_point, checkpoint=path, progress=False)
    ckpt.save(path, {"unit": np.zeros((2, 4))}, {"generation": 1})
    with pytest.raises(ckpt.CheckpointError, match=r"missing \['objectives'"):
        run(nsga2(8), p.objective, p.space, key=jax.random.key(0), budget=24,
            ref_point=p.ref_point, checkpoint=path, progress=False)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, a=np.zeros(2))
    with pytest.raises(ckpt.CheckpointError, match="no header"):
        ckpt.load(path)


def test_damaged_result_file(tmp_path):
    from lepton_codesign.search.space import Real, Space

    r = SearchResult.from_arrays(Space({"x": Real(0, 1)}), np.array([[0.2]]),
                                 np.array([[0.2, 0.8]]), np.zeros(1))
    stem = tmp_path / "res"
    r.save(stem)
    (tmp_path / "res.npz").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="res.npz: damaged result file"):
        SearchResult.load(stem)
