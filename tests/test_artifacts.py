"""Artifacts per trial: saved by the evaluator (in-process or in a worker), kept, listed, fetched."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import pyglove as pg
import pytest
from typer.testing import CliRunner

from hashtune import Study
from hashtune.cli import app
from hashtune.evaluators.base import Evaluator, TrialContext
from hashtune.spaces.base import Space


class SavingEvaluator(Evaluator):
    """Saves a checkpoint (bytes), a log (str) and a copied file, then scores the candidate."""

    name = "saving"
    objectives = ("score",)

    def evaluate(self, candidate: Any, context: TrialContext) -> float:
        context.save_artifact("weights.bin", bytes([context.number % 256]) * 1000)
        context.save_artifact("log.txt", f"trial {context.number} in pid {os.getpid()}\n")
        src = Path(f"/tmp/optdata-art-{os.getpid()}-{context.number}.csv")
        src.write_text("step,loss\n0,1.5\n")
        context.save_artifact("curve.csv", src)
        src.unlink()
        return float(candidate["x"])


def _space() -> Space:
    """Two of the three choices are the same function: the second one is served from the cache."""
    return Space(pg.Dict(x=pg.oneof([1, 2, 2])), name="dup")


def _study(url: str, **kw: Any) -> Study:
    study = Study.create("art", space=_space(), evaluator=SavingEvaluator(), searcher="random",
                         storage=url, seed=0, **kw)  # fmt: skip
    for dna in ([0], [1], [2]):
        study.enqueue(pg.DNA(dna))
    return study


def test_saved_artifacts_are_kept_beside_the_store_and_fetched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(stage))  # staging folders land here
    url = f"sqlite:///{tmp_path}/a.db"
    study = _study(url)
    study.optimize(n_trials=3)
    first = study.trials()[0]
    records = study.store.artifacts.list(first.id)
    assert [a.name for a in records] == ["curve.csv", "log.txt", "weights.bin"]
    weights = next(a for a in records if a.name == "weights.bin")
    assert weights.size == 1000 and Path(weights.uri).is_relative_to(tmp_path / "a-artifacts")
    assert weights.sha256 == hashlib.sha256(bytes([first.number]) * 1000).hexdigest()
    out = CliRunner().invoke(app, ["artifacts", "art", "0", "-s", url], terminal_width=200)
    assert out.exit_code == 0 and "weights.bin" in out.output and "1000" in out.output
    dest = tmp_path / "got.csv"
    out = CliRunner().invoke(
        app, ["artifacts", "art", "0", "-s", url, "--get", "curve.csv", "--to", str(dest)]
    )
    assert out.exit_code == 0, out.output
    assert dest.read_text() == "step,loss\n0,1.5\n"
    missing = CliRunner().invoke(app, ["artifacts", "art", "0", "-s", url, "--get", "nope"])
    assert missing.exit_code == 2 and "has no artifact 'nope'" in missing.output
    assert not list(stage.glob("hashtune-artifacts-*/*"))  # staging cleaned


def test_a_cached_trial_points_at_the_artifacts_of_the_trial_that_paid(tmp_path: Path) -> None:
    study = _study(f"sqlite:///{tmp_path}/a.db")
    study.optimize(n_trials=3)
    paid, cached = study.trials()[1], study.trials()[2]
    assert cached.state == "CACHED" and cached.cached_from_trial_id == paid.id
    got = study.store.artifacts.list(cached.id)
    assert {a.trial_number for a in got} == {paid.number}
    assert [a.uri for a in got] == [a.uri for a in study.store.artifacts.list(paid.id)]
    out = CliRunner().invoke(app, ["artifacts", "art", "2", "-s", study.store.url])
    assert "saved by trial 1" in " ".join(out.output.split())


@pytest.mark.slow
def test_artifacts_saved_in_process_pool_workers_are_kept(tmp_path: Path) -> None:
    study = _study(
        f"sqlite:///{tmp_path}/a.db", executor="process", executor_args={"max_workers": 2}
    )
    study.optimize(n_trials=3)
    logs = [
        Path(a.uri).read_text()
        for t in study.trials()
        if t.state == "COMPLETE"
        for a in study.store.artifacts.list(t.id)
        if a.name == "log.txt"
    ]
    assert len(logs) == 2 and all(f"pid {os.getpid()}\n" not in text for text in logs)


def test_an_fsspec_root_holds_the_artifacts(tmp_path: Path) -> None:
    study = _study(f"sqlite:///{tmp_path}/a.db")
    study.artifact_root = "memory://hashtune-test-artifacts"
    study.optimize(n_trials=1)
    record = study.store.artifacts.list(study.trials()[0].id)[0]
    assert record.uri.startswith("memory://hashtune-test-artifacts/")
    assert not (tmp_path / "a-artifacts").exists()
    out = tmp_path / "c.csv"
    CliRunner().invoke(app, ["artifacts", "art", "0", "-s", study.store.url, "--get",
                             "curve.csv", "--to", str(out)])  # fmt: skip
    assert out.read_text() == "step,loss\n0,1.5\n"


@pytest.mark.parametrize("name", ["", "a/b", "..", "x" * 300])
def test_a_bad_artifact_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        TrialContext(0).save_artifact(name, b"x")


def test_an_artifact_of_another_type_is_refused() -> None:
    with pytest.raises(TypeError, match="bytes, str or a path"):
        TrialContext(0).save_artifact("a", 3.5)  # type: ignore[arg-type]
