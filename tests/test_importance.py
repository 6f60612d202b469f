"""Parameter importance: fANOVA over decision points ranks what matters above noise."""

from __future__ import annotations

import random
from pathlib import Path

import pyglove as pg
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from typer.testing import CliRunner

from hashtune import FunctionEvaluator, Study
from hashtune.cli import app
from hashtune.importance import INACTIVE, filled_trials, widened
from hashtune.optuna_trials import frozen_trials
from hashtune.space_registry import register_space
from hashtune.spaces.base import Space


@register_space("importance_signal_noise")
def signal_noise_space() -> Space:
    """`signal` decides the score; `noise` and the conditional `extra.k` do not."""
    return Space(
        pg.Dict(
            signal=pg.floatv(0.0, 1.0),
            noise=pg.floatv(0.0, 1.0),
            choice=pg.oneof([pg.Dict(k=pg.oneof([1, 2, 3])), "off"]),
        )
    )


def _score(c) -> float:
    jitter = random.Random(repr(c)).uniform(-0.01, 0.01)  # noise that is not a parameter
    return 10 * c.signal**2 + jitter


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    url = f"sqlite:///{tmp_path_factory.mktemp('imp')}/i.db"
    s = Study.create(
        "imp", space="importance_signal_noise", evaluator=FunctionEvaluator(_score),
        searcher="random", storage=url, seed=5,
    )  # fmt: skip
    s.optimize(n_trials=40)
    return s


def test_the_parameter_that_matters_ranks_first(study: Study) -> None:
    imp = study.importance()
    assert list(imp)[0] == "signal" and imp["signal"] > 0.8
    assert imp["signal"] > 5 * imp["noise"]
    assert "choice[=0/2].k" in imp  # the conditional decision point takes part
    assert sum(imp.values()) == pytest.approx(1.0)


def test_inactive_conditional_params_take_a_value_outside_their_range(study: Study) -> None:
    filled = filled_trials(frozen_trials(study))
    ks = [t.params["choice[=0/2].k"] for t in filled]  # an int choice: one step below
    assert 0 in ks and set(ks) - {0} <= {1, 2, 3} and len(set(ks)) > 2
    assert filled[0].distributions["choice[=0/2].k"] == IntDistribution(0, 3)
    assert all(t.distributions == filled[0].distributions for t in filled)
    wide, sentinel = widened(CategoricalDistribution(["a", "b"]))
    assert sentinel == INACTIVE and wide.choices == ("a", "b", INACTIVE)
    wide, sentinel = widened(FloatDistribution(1e-3, 1.0, log=True))
    assert sentinel == pytest.approx(1e-4) and wide.low == sentinel


def test_importance_command_prints_an_80_column_table_and_plots(
    study: Study, tmp_path: Path
) -> None:
    png = tmp_path / "imp.png"
    out = CliRunner().invoke(
        app, ["importance", "imp", "-s", study.store.url, "--plot", str(png)], terminal_width=200
    )
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert max(len(line) for line in lines if "│" in line) <= 80
    table_rows = [line for line in lines if "│" in line and "importance" not in line]
    assert "signal" in table_rows[0]
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"


def test_importance_of_a_study_with_too_few_trials_is_a_clear_error(tmp_path: Path) -> None:
    s = Study.create(
        "few", space="importance_signal_noise", evaluator=FunctionEvaluator(_score),
        storage=f"sqlite:///{tmp_path}/f.db",
    )  # fmt: skip
    s.optimize(n_trials=1)
    out = CliRunner().invoke(app, ["importance", "few", "-s", s.store.url])
    assert out.exit_code == 1 and "need 2 or more" in out.output
