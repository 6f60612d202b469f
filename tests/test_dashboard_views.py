"""The dashboard's pure parts: Pareto fronts, the memo, candidate rendering, importance."""

from __future__ import annotations

import threading
import time

import numpy as np
import pyglove as pg
import pytest

from hashtune.dashboard import memo as memo_mod
from hashtune.dashboard.candidates import render, short
from hashtune.dashboard.importance import param_views
from hashtune.dashboard.pareto import front_indices
from hashtune.search.selection import pareto_front


@pytest.mark.parametrize("k", [2, 3])
def test_front_matches_the_quadratic_reference_with_ties_and_nans(k: int) -> None:
    rng = np.random.default_rng(k)
    dirs = ["minimize", "maximize", "minimize"][:k]
    for _ in range(50):
        pts = rng.integers(0, 5, size=(40, k)).astype(float)
        pts[rng.integers(0, 40)] = np.nan
        assert front_indices(pts, dirs) == pareto_front(pts.tolist(), dirs)


def test_front_of_100k_points_is_fast() -> None:
    pts = np.random.default_rng(0).random((100_000, 3))
    t = time.perf_counter()
    front = front_indices(pts, ["minimize"] * 3)
    assert front and time.perf_counter() - t < 5.0


def test_memo_reuses_a_value_until_the_version_changes_and_it_is_old(monkeypatch) -> None:
    monkeypatch.setattr(memo_mod, "MIN_AGE_S", 0.0)
    m, calls = memo_mod.Memo(), []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert m.get("k", 1, compute) == 1
    assert m.get("k", 1, compute) == 1  # same version: reused
    time.sleep(0.01)
    assert m.get("k", 2, compute) == 2  # new version, entry older than its cost x 5: recomputed
    monkeypatch.setattr(memo_mod, "MIN_AGE_S", 60.0)
    assert m.get("k", 3, compute) == 2  # changed again, but recomputed moments ago: throttled


def test_optimizer_program_candidate_shows_its_source() -> None:
    from hashtune.spaces.optimizers.program import Program
    from hashtune.spaces.optimizers.seeds import ADAM

    program = Program.from_source(ADAM)
    out = render(pg.to_json_str(program))
    assert out["source"] == program.to_source()
    assert "def update(" in out["source"]
    padded = Program.from_source(ADAM.replace("lr, t):", "lr, t):\n    dead = g * 3.0", 1))
    shown = render(pg.to_json_str(padded))
    assert "dead" in shown["source"] and "dead" not in shown["simplified"]  # raw vs readable
    assert shown["simplified"] == out["simplified"]


def test_nb201_candidate_renders_as_pyglove_and_a_cell_graph() -> None:
    from hashtune.spaces.nas_bench_201 import cell_from_string

    cell = cell_from_string("|skip_connect~0|+|none~0|none~1|+|avg_pool_3x3~0|none~1|none~2|")
    params = {f"op_{s}_{d}": op for (s, d), op in zip(_edges(), cell.ops, strict=True)}
    out = render(pg.to_json_str(cell), params)
    assert out["pyglove"].startswith("Cell(") and "op_0_3 = 'avg_pool_3x3'" in out["pyglove"]
    assert {(e["src"], e["dst"], e["op"]) for e in out["cell"]["edges"]} >= {(0, 1, "skip_connect")}
    assert short(pg.to_json_str(cell)).startswith("Cell(")


def _edges():
    from hashtune.spaces.nas_bench_201 import EDGES

    return EDGES


def test_non_pyglove_candidates_are_shown_as_text() -> None:
    assert render('{"x": 1}')["pyglove"] == "{\n  x = 1\n}"  # a plain dict in PyGlove format
    assert render("<script>alert(1)</script>")["pyglove"] == "<script>alert(1)</script>"


def test_importance_ranks_the_parameter_that_drives_the_objective() -> None:
    rng = np.random.default_rng(0)
    sample = [
        {"number": i, "values": [float(3 * a + 0.1 * b)], "params": {"a": int(a), "b": str(b)}}
        for i, (a, b) in enumerate(
            zip(rng.integers(0, 5, 200), rng.integers(0, 5, 200), strict=True)
        )
    ]
    views = param_views(sample, maximize=True)
    assert (
        views["params"]["a"]["kind"] == "numeric" and views["params"]["b"]["kind"] == "categorical"
    )
    assert views["importance"]["a"] > 0.9 > views["importance"]["b"]


def test_dashboard_command_fails_clearly_on_a_bad_storage_url(tmp_path) -> None:
    from typer.testing import CliRunner

    from hashtune.cli import app

    url = f"sqlite:///{tmp_path}/missing/dir/x.db"
    result = CliRunner().invoke(app, ["dashboard", "--storage", url, "--port", "1"])
    assert result.exit_code == 2
    assert "missing/dir" in result.output and "Traceback" not in result.output


def test_memo_computes_a_key_once_while_parallel_requests_wait_for_it() -> None:
    m, calls, gate = memo_mod.Memo(), [], threading.Event()

    def compute() -> str:
        calls.append(threading.current_thread().name)
        gate.wait(5)
        return "value"

    got: list[str] = []
    threads = [
        threading.Thread(target=lambda: got.append(m.get("k", 1, compute))) for _ in range(6)
    ]
    for t in threads:
        t.start()
    time.sleep(0.2)  # all six are in: one computes, five wait
    gate.set()
    for t in threads:
        t.join(5)
    assert got == ["value"] * 6 and len(calls) == 1
    assert m.get("other", 1, lambda: "x") == "x"  # other keys never waited on this one


def test_memo_recomputes_when_the_computing_thread_failed() -> None:
    m, gate = memo_mod.Memo(), threading.Event()

    def boom() -> str:
        gate.wait(5)
        raise RuntimeError("query failed")

    errors: list[Exception] = []

    def first() -> None:
        try:
            m.get("k", 1, boom)
        except RuntimeError as e:
            errors.append(e)

    t = threading.Thread(target=first)
    t.start()
    time.sleep(0.1)
    waiter: list[str] = []
    w = threading.Thread(target=lambda: waiter.append(m.get("k", 1, lambda: "recomputed")))
    w.start()
    time.sleep(0.1)
    gate.set()
    t.join(5), w.join(5)
    assert len(errors) == 1 and waiter == ["recomputed"]
