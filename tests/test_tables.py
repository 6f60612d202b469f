"""CLI tables read well at 80 and 200 columns: study names whole, rows short, constants hidden."""

from __future__ import annotations

import re

import pytest
from rich.console import Console

import hashtune as ht
from hashtune.cli.tables import studies_table, trial_detail, trials_table
from hashtune.store import Store
from hashtune.view import StudyView

NAME = "mlp-digits-with-a-long-descriptive-name"


@pytest.fixture(scope="module")
def mlp_study(tmp_path_factory: pytest.TempPathFactory) -> StudyView:
    url = f"sqlite:///{tmp_path_factory.mktemp('tables')}/t.db"
    evaluator = ht.FunctionEvaluator(lambda c: c.learning_rate * c.batch_size)
    study = ht.Study.create(
        NAME, space="mlp_digits", evaluator=evaluator, searcher="random", storage=url, seed=3
    )
    study.optimize(n_trials=12)
    return StudyView.open(NAME, Store(url))


def render(table, width: int) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(table)
    return console.export_text()


def row_heights(text: str) -> list[int]:
    """Lines per table row: a row starts with a trial number in the first column."""
    lines = [line for line in text.splitlines() if line.startswith("│")]
    starts = [i for i, line in enumerate(lines) if re.match(r"│\s*\d+\s*│", line)]
    return [b - a for a, b in zip(starts, [*starts[1:], len(lines)], strict=True)]


@pytest.mark.parametrize("width", [80, 200])
def test_study_names_are_never_cut(mlp_study: StudyView, width: int) -> None:
    text = render(studies_table(mlp_study.store.studies.list()), width)
    assert NAME in text and "…" not in text.split(NAME)[0].splitlines()[-1]


@pytest.mark.parametrize("width, most", [(80, 2), (200, 1)])
def test_trial_rows_wrap_at_most_twice_and_hide_constants(
    mlp_study: StudyView, width: int, most: int
) -> None:
    text = render(trials_table(mlp_study, mlp_study.top(8), "best"), width)
    heights = row_heights(text)
    assert len(heights) == 8 and max(heights) <= most, text
    assert "input_dim" not in text and "num_classes" not in text  # never vary in this space
    assert re.search(r"lr=[\d.e-]+", text) and "bs=" in text


def test_the_trial_view_shows_the_whole_candidate(mlp_study: StudyView) -> None:
    best = mlp_study.best_trial
    text = render(trial_detail(mlp_study, best), 80)
    assert "input_dim = 64" in text and "MLPConfig(" in text
    assert f"{best.values[0]:.4g}" in text
