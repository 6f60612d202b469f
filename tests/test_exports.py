"""Exports that lose nothing: CSV, JSON and Parquet keep types, metadata and intermediate values."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pyglove as pg
import pytest
from typer.testing import CliRunner

from hashtune import FunctionEvaluator, Study
from hashtune.cli import app
from hashtune.exports import export_data, read_export
from hashtune.space_registry import register_space
from hashtune.spaces.base import Space


def _score(c, context) -> tuple[float, float]:
    for step in range(2):
        context.report(step * 10, c.batch * (step + 1) / 10)
    return float(c.batch), c.lr * (2 if c.act == "relu" else 1)


@register_space("exports_typed")
def typed_space() -> Space:
    """Ints, floats, strings and a conditional param (registered: the CLI rebuilds it)."""
    return Space(
        pg.Dict(
            batch=pg.oneof([32, 64, 128]),
            act=pg.oneof(["relu", "tanh"]),
            lr=pg.floatv(1e-3, 1.0, scale="log"),
            opt=pg.oneof([pg.Dict(momentum=pg.oneof([0.0, 0.9])), "plain"]),
        ),
        name="typed",
    )


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    """Objectives named `params` and `value` (no collision with the column prefixes)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('exports')}/e.db"
    s = Study.create(
        "types", space="exports_typed", evaluator=FunctionEvaluator(_score, objectives=("params", "value")),
        searcher="random", directions=["maximize", "minimize"], storage=url, seed=2,
    )  # fmt: skip
    s.optimize(n_trials=8)
    return s


def _check(data: dict, study: Study) -> None:
    trials = study.trials()
    assert data["directions"] == ["maximize", "minimize"]
    assert data["objectives"] == ["params", "value"]
    assert {"batch", "act", "lr", "opt"} <= set(data["distributions"])
    assert data["distributions"]["lr"]["attributes"]["log"] is True
    rows = data["trials"]
    assert [r["number"] for r in rows] == [t.number for t in trials]
    for row, t in zip(rows, trials, strict=True):
        assert type(row["number"]) is int and type(row["param.batch"]) is int
        assert row["param.batch"] == t.params["batch"] and row["param.act"] == t.params["act"]
        assert row["param.lr"] == t.params["lr"]
        assert (row["value.params"], row["value.value"]) == t.values
        assert row["param.opt[=0/2].momentum"] == t.params.get("opt[=0/2].momentum")
        assert row["state"] == t.state and row["parents"] == list(t.parents)
    assert data["columns"]["param.batch"] == "int" and data["columns"]["param.lr"] == "float"
    steps = [(r["trial"], r["step"], r["value"]) for r in data["intermediate_values"]]
    assert steps == [(t.number, s, v) for t in trials for s, v in t.intermediate]
    assert all(type(s) is int for _, s, _ in steps) and len(steps) == 2 * len(trials)


def test_json_export_round_trips_types(study: Study, tmp_path: Path) -> None:
    out = CliRunner().invoke(
        app,
        ["export", "types", "-s", study.store.url, "-f", "json", "-o", str(tmp_path / "t.json")],
    )
    assert out.exit_code == 0, out.output
    _check(read_export(tmp_path / "t.json"), study)
    raw = (tmp_path / "t.json").read_text()
    assert '"param.batch": 32' in raw or '"param.batch": 64' in raw or '"param.batch": 128' in raw
    assert ".0," not in raw.split('"param.batch"')[1][:8]  # an int, never 32.0


def test_csv_export_round_trips_types_through_its_sidecars(study: Study, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    out = CliRunner().invoke(app, ["export", "types", "-s", study.store.url, "-o", str(path)])
    assert out.exit_code == 0, out.output
    header = path.read_text().splitlines()[0].split(",")
    assert header[:4] == ["number", "state", "value.params", "value.value"]
    assert len(header) == len(set(header))
    assert Path(f"{path}.meta.json").exists() and (tmp_path / "t.intermediate.csv").exists()
    cells = {r["param.batch"] for r in csv.DictReader(io.StringIO(path.read_text()))}
    assert cells <= {"32", "64", "128"}  # ints written as ints, never 32.0
    _check(read_export(path), study)


def test_parquet_export_round_trips_types_with_schema_metadata(
    study: Study, tmp_path: Path
) -> None:
    path = tmp_path / "t.parquet"
    out = CliRunner().invoke(
        app, ["export", "types", "-s", study.store.url, "-f", "parquet", "-o", str(path)]
    )
    assert out.exit_code == 0, out.output
    schema = pq.read_schema(path)
    assert str(schema.field("param.batch").type) == "int64"
    assert json.loads(schema.metadata[b"hashtune"])["directions"] == ["maximize", "minimize"]
    _check(read_export(path), study)


def test_parquet_to_stdout_is_refused_cleanly(study: Study) -> None:
    out = CliRunner().invoke(app, ["export", "types", "-s", study.store.url, "-f", "parquet"])
    assert out.exit_code == 2 and "needs --output" in out.output


def test_export_data_of_a_study_without_trials_has_its_metadata(tmp_path: Path) -> None:
    s = Study.create(
        "empty", space=Space(pg.Dict(x=pg.oneof([1, 2]))),
        evaluator=FunctionEvaluator(lambda c: c.x), storage=f"sqlite:///{tmp_path}/e.db",
    )  # fmt: skip
    data = export_data(s)
    assert data["trials"] == [] and data["directions"] == ["maximize"]
    x = {"name": "IntDistribution", "attributes": {"log": False, "step": 1, "low": 1, "high": 2}}
    assert data["distributions"] == {"x": x}  # from the space's spec, no trial needed
