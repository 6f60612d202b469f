"""More of issue 13's cases: a bad file on a NEW study creates none; a changed space is refused in
a few lines (same shape or not); a multi-objective run's closing table is its Pareto front."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hashtune.cli import app
from hashtune.store import Store

FIXTURE = Path(__file__).parent / "fixtures" / "nb201_fixture.csv"
NEW = f"""\
study: fresh
space: nas_bench_201
evaluator: {{name: nas_bench_201_tabular, args: {{path: {FIXTURE}}}}}
searcher: {{name: regularized_evolution, args: {{population_size: 4, tournament_size: 2}}}}
budget: {{trials: 4}}
"""
BAD_OP = "|none~0|+|bogus_op~0|none~1|+|none~0|none~1|none~2|"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["run", *args, "--no-progress"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "extra, words",
    [
        (f"enqueue: ['{BAD_OP}']\n", ("enqueue.0", "bogus_op")),
        ("executor: {name: process, args: {max_workers: 0}}\n", ("max_workers", "0")),
        ("executor: warp\n", ("executor", "warp")),
        ("pruner: {name: nope}\n", ("pruner", "nope")),
    ],
    ids=["enqueue", "workers-zero", "executor", "pruner"],
)
def test_a_bad_file_for_a_new_study_creates_no_study(tmp_path: Path, extra: str, words) -> None:
    db = tmp_path / "s.db"
    Store(f"sqlite:///{db}").close()  # an existing store without the study
    exp = tmp_path / "e.yaml"
    exp.write_text(NEW + extra)
    code, out = _run(str(exp), "--storage", f"sqlite:///{db}")
    flat = "".join(out.split())
    assert code == 2 and all("".join(w.split()) in flat for w in words), out
    assert "Traceback" not in out
    assert Store(f"sqlite:///{db}").studies.get("fresh") is None


MLP = """\
study: mlp
space: {name: mlp_digits, args: {max_depth: 1, widths: [16, 32, 64]}}
evaluator: {name: "hashtune.evaluators.testing:QuadraticEvaluator"}
searcher: random
budget: {trials: 2}
"""


@pytest.mark.parametrize(
    "space",
    [
        "{name: mlp_digits, args: {max_depth: 1, widths: [16, 32, 64, 128]}}",  # same shape
        "nas_bench_201",  # another shape
    ],
    ids=["same-shape", "other-shape"],
)
def test_resuming_with_another_space_is_refused_in_a_few_lines(tmp_path: Path, space: str) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    exp = tmp_path / "e.yaml"
    exp.write_text(MLP)
    assert _run(str(exp), "--storage", url)[0] == 0
    before = (tmp_path / "s.db").read_bytes()
    old_space = MLP.splitlines()[1]
    exp.write_text(MLP.replace(old_space, f"space: {space}"))
    code, out = _run(str(exp), "--storage", url)
    assert code == 2 and "--allow-config-change" in out, out
    assert "space" in out and len(out.strip().splitlines()) <= 8, out  # no PyGlove dump
    assert (tmp_path / "s.db").read_bytes() == before


def test_a_multi_objective_run_closes_with_its_pareto_front_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    exp = tmp_path / "e.yaml"
    exp.write_text(
        NEW.replace("args: {path:", "args: {extra_objectives: [params], path:").replace(
            "budget: {trials: 4}", "budget: {trials: 12}"
        )
        + "directions: [maximize, minimize]\n"
    )
    code, out = _run(str(exp), "--storage", url, "--top", "50")
    assert code == 0, out
    store = Store(url)
    scored = [t for t in store.trials.list(store.studies.get("fresh").id) if t.values]
    shown = {int(n) for n in re.findall(r"^│\s*(\d+)\s*│", out, flags=re.M)}

    def dominated(t) -> bool:
        (a, p) = t.values
        return any(o.values[0] >= a and o.values[1] <= p and o.values != t.values for o in scored)

    assert shown and all(not dominated(t) for t in scored if t.number in shown), out
    front = {t.number for t in scored if not dominated(t)}
    assert front & shown, "the front is shown"
