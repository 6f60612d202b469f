"""Tables of the demo studies' spaces at 80 and 200 columns: no row beyond 2 lines (a long
program or cell is cut with "…"; `hashtune trial` shows it whole); a user's own symbolic class
reads as its varying fields, not as raw JSON."""

from __future__ import annotations

import pyglove as pg
import pytest
from test_tables import render, row_heights

import hashtune as ht
from hashtune.cli.tables import trial_detail, trials_table
from hashtune.store import Store
from hashtune.view import StudyView


@pg.members([("width", pg.typing.Int()), ("act", pg.typing.Str()), ("depth", pg.typing.Int())])
class UserNet(pg.Object):
    """A user's own symbolic candidate class."""


def _study(tmp_path_factory, name: str, space) -> StudyView:
    url = f"sqlite:///{tmp_path_factory.mktemp(name)}/t.db"
    evaluator = ht.FunctionEvaluator(lambda c: float(len(repr(c)) % 17))
    study = ht.Study.create(
        name, space=space, evaluator=evaluator, searcher="random", storage=url, seed=5,
        cache={"enabled": False},
    )  # fmt: skip
    study.optimize(n_trials=8)
    return StudyView.open(name, Store(url))


@pytest.mark.parametrize("space", ["nas_bench_201", "optimizer_programs", "mlp_digits"])
@pytest.mark.parametrize("width", [80, 200])
def test_demo_study_rows_never_wrap_beyond_two_lines(tmp_path_factory, space: str, width: int):
    view = _study(tmp_path_factory, f"demo-{space}", space)
    text = render(trials_table(view, view.trials(), "trials"), width)
    heights = row_heights(text)
    assert len(heights) == 8 and max(heights) <= 2, text
    assert all(len(line) <= width for line in text.splitlines())
    whole = render(trial_detail(view, view.trials()[0]), width)
    assert "…" not in whole  # the full form is in `hashtune trial STUDY N`


def test_a_users_symbolic_class_prints_as_its_varying_fields(tmp_path_factory) -> None:
    space = ht.Space(UserNet.partial(width=pg.oneof([8, 16, 32]), act=pg.oneof(["relu", "tanh"]),
                                     depth=3), name="user-net")  # fmt: skip
    view = _study(tmp_path_factory, "user-net", space)
    text = render(trials_table(view, view.trials(), "trials"), 80)
    assert "_type" not in text and '"' not in text and "{" not in text, text
    assert "width=" in text and ("relu" in text or "tanh" in text)
    assert "depth" not in text  # the same in every candidate
