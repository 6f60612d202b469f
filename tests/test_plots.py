"""Study plots: history (one objective) and Pareto front (two objectives) written as images."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pyglove as pg

import hashtune as ht
from hashtune.cli.plots import plot_study


def test_plots_of_one_and_two_objective_studies(tmp_path: Path) -> None:
    space = ht.Space(pg.Dict(x=pg.oneof(list(range(8)))), "x")
    url = f"sqlite:///{tmp_path}/p.db"
    one = ht.Study.create(
        "one", space=space, evaluator=ht.FunctionEvaluator(lambda c: c.x), storage=url
    )
    one.optimize(n_trials=6)
    two = ht.Study.create(
        "two",
        space=space,
        evaluator=ht.FunctionEvaluator(lambda c: (c.x, c.x**2), objectives=("acc", "cost")),
        searcher="nsga2",
        directions=["maximize", "minimize"],
        storage=url,
    )
    two.optimize(n_trials=6)
    for study, width in ((one, 7), (two, 12)):
        path = plot_study(study, tmp_path / f"{study.name}.png")
        img = matplotlib.image.imread(path)
        assert img.shape[1] == 120 * width  # dpi 120: two panels for two objectives
        assert np.std(img[..., :3]) > 0.05, "the image should not be blank"


def test_pruned_trials_are_drawn_apart_from_failed_ones_on_whole_trial_ticks(
    tmp_path: Path,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hashtune.cli.plots import draw_history

    url = f"sqlite:///{tmp_path}/p.db"
    space = ht.Space(pg.Dict(x=pg.oneof(list(range(8)))), "x")
    study = ht.Study.create(
        "mixed", space=space, evaluator=ht.FunctionEvaluator(lambda c: c.x), storage=url
    )
    study.optimize(n_trials=3)
    store = study.store
    for state in ("FAILED", "PRUNED"):
        trial = store.trials.reserve(study.study_id, worker="w")
        store.trials.finish(trial.id, state=state, error="x" if state == "FAILED" else None)
    fig, ax = plt.subplots()
    draw_history(study, ax)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "failed" in labels and "pruned" in labels
    fig.canvas.draw()
    ticks = ax.get_xticks()
    assert all(float(t).is_integer() for t in ticks), ticks
    plt.close(fig)
