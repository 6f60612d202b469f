"""Pictures of a study: best-so-far over trials (cache hits marked) and, for two objectives, the
Pareto front. Written as PNG/SVG/PDF files with matplotlib (no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hashtune.vocabulary import Direction, TrialState

if TYPE_CHECKING:
    from hashtune.view import StudyView

_COLORS = {
    TrialState.COMPLETE: "tab:blue",
    TrialState.CACHED: "tab:green",
    TrialState.FAILED: "tab:red",
    TrialState.PRUNED: "tab:gray",
}


def plot_study(study: StudyView, path: str | Path) -> Path:
    """Write the study's plot to `path` (format from the suffix); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    two = len(study.directions) == 2
    fig, axes = plt.subplots(1, 2 if two else 1, figsize=(12 if two else 7, 4.5), squeeze=False)
    draw_history(study, axes[0][0])
    if two:
        _front(study, axes[0][1])
    fig.suptitle(f"study {study.name}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def draw_history(study: StudyView, ax) -> None:
    """First objective per trial, coloured by state, with the best-so-far line."""
    name = study.objectives[0]
    sign = Direction(study.directions[0]).sign
    # Read in SQL, bounded whatever the trial count: min and max per range of trial numbers and
    # state, and the improvements of the best so far.
    buckets = study.store.dashboard.value_buckets(study.study_id)["states"]
    for state in (TrialState.COMPLETE, TrialState.CACHED):
        col = buckets.get(state)
        if col:
            xs = [n for lo, hi in zip(col["lo"], col["hi"], strict=True) for n in (lo, hi)]
            ys = [v for lo, hi in zip(col["min"], col["max"], strict=True) for v in (lo, hi)]
            ax.scatter(xs, ys, s=12, c=_COLORS[state], label=state.lower())
    steps = study.store.dashboard.best_so_far(study.study_id, sign > 0)
    xs, ys = [r["number"] for r in steps], [r["value"] for r in steps]
    if xs:
        last = max(max(col["hi"]) for col in buckets.values())  # the step runs to the end
        xs, ys = [*xs, max(last, xs[-1])], [*ys, ys[-1]]
        ax.step(xs, ys, where="post", c="black", lw=1.5, label="best so far")
    for state, marker in ((TrialState.FAILED, "x"), (TrialState.PRUNED, "v")):
        numbers = [t.number for t in study.trials([state])]
        if numbers and ys:
            ax.scatter(
                numbers, [min(ys)] * len(numbers), marker=marker, c=_COLORS[state],
                label=state.lower(),
            )  # fmt: skip
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trial numbers are whole
    ax.set_xlabel("trial")
    ax.set_ylabel(name)
    ax.legend(loc="best", fontsize=8)


def _front(study: StudyView, ax) -> None:
    """All scored trials in objective space, the Pareto front joined."""
    points = study.store.dashboard.objective_points(study.study_id, 2)  # plain columns, no records
    front = sorted(study.pareto_front(), key=lambda t: t.values[0])
    ax.scatter([p[3] for p in points], [p[4] for p in points], s=10, c="tab:blue")
    if front:
        ax.plot([t.values[0] for t in front], [t.values[1] for t in front], "o-", c="tab:orange")
    ax.set_xlabel(f"{study.objectives[0]} ({study.directions[0]})")
    ax.set_ylabel(f"{study.objectives[1]} ({study.directions[1]})")
    ax.set_title("Pareto front")
