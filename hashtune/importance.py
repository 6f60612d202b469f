"""Parameter importance of a study: fANOVA (Optuna's evaluator) over the space's decision points.

Parameters are the Optuna encoding of each trial's DNA (one per decision point, named by its
decision id), so conditional decision points take part. fANOVA needs every trial to have every
parameter: where a conditional parameter is inactive it takes a value just outside its range (its
own category `(inactive)` for a choice; one step below an int's range; below a float's, a tenth of
its width or, on a log scale, a decade), so the forest can split active from inactive trials. A
conditional parameter's importance thus includes the effect of being active at all. Scored
trials (COMPLETE and CACHED) are the data; importances are normalised to sum to 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.importance import FanovaImportanceEvaluator
from optuna.trial import FrozenTrial, TrialState
from rich.table import Table

from hashtune.optuna_trials import frozen_trials, union_distributions
from hashtune.spaces.base import Space

INACTIVE = "(inactive)"


def widened(d: BaseDistribution) -> tuple[BaseDistribution, Any]:
    """A distribution one value wider than `d`, and that value (for inactive trials)."""
    if isinstance(d, CategoricalDistribution):
        return CategoricalDistribution([*d.choices, INACTIVE]), INACTIVE
    if isinstance(d, IntDistribution):
        return IntDistribution(d.low - d.step, d.high, step=d.step), d.low - d.step
    assert isinstance(d, FloatDistribution)
    if d.log:
        return FloatDistribution(d.low / 10, d.high, log=True), d.low / 10
    below = d.low - (d.high - d.low or 1.0) / 10
    return FloatDistribution(below, d.high), below


def filled_trials(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Scored trials with every parameter present (inactive ones filled, see module doc)."""
    scored = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    dists = union_distributions(scored)
    partial = {k for k in dists if any(k not in t.params for t in scored)}
    wide = {k: widened(dists[k]) for k in partial}
    out = []
    for t in scored:
        params, use = {}, {}
        for k, d in dists.items():
            if k in partial:
                use[k], params[k] = wide[k][0], t.params.get(k, wide[k][1])
            else:
                use[k], params[k] = d, t.params[k]
        out.append(
            optuna.trial.create_trial(
                params=params, distributions=use, values=list(t.values), state=TrialState.COMPLETE
            )
        )
    return out


def param_importances(
    view: Any, *, space: Space | None = None, objective: int = 0, seed: int = 0
) -> dict[str, float]:
    """fANOVA importance of each parameter for objective number `objective`, largest first."""
    if not 0 <= objective < len(view.directions):
        raise ValueError(f"`objective` must be in 0..{len(view.directions) - 1}, got {objective!r}")
    trials = filled_trials(frozen_trials(view, space))
    if len(trials) < 2:
        raise ValueError(f"study {view.name!r} has {len(trials)} scored trial(s); need 2 or more")
    study = optuna.create_study(directions=[d for d in view.directions])
    study.add_trials(trials)
    return optuna.importance.get_param_importances(
        study,
        evaluator=FanovaImportanceEvaluator(seed=seed),
        target=lambda t: t.values[objective],
    )


def importance_table(name: str, importances: dict[str, float], objective: str) -> Table:
    """The importances as a table that fits 80 columns (long names are folded)."""
    table = Table(title=f"{name}: parameter importance for {objective} (fANOVA)", width=80)
    table.add_column("parameter", overflow="fold", ratio=3)
    table.add_column("importance", justify="right", width=10)
    table.add_column("", width=30, no_wrap=True)
    for k, v in importances.items():
        table.add_row(k, f"{v:.3f}", "█" * round(v * 30))
    return table


def plot_importances(importances: dict[str, float], path: Path, title: str) -> Path:
    """A horizontal bar chart of the importances (PNG/SVG/PDF by the file's extension)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(importances)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(names) + 1.2))
    ax.barh(names, [importances[n] for n in names], color="#4c72b0")
    ax.set_xlabel("importance (fANOVA, sums to 1)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
