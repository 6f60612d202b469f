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
    best, xs, ys = None, [], []
    for state in (TrialState.COMPLETE, TrialState.CACHED):
        pts = [(t.number, t.values[0]) for t in study.trials([state]) if t.values]
        if pts:
            ax.scatter(*zip(*pts, strict=True), s=12, c=_COLORS[state], label=state.lower())
    for t in study.scored_trials():
        v = t.values[0]
        best = v if best is None or sign * v > sign * best else best
        xs.append(t.number)
        ys.append(best)
    if xs:
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
    scored = study.scored_trials()
    front = sorted(study.pareto_front(), key=lambda t: t.values[0])
    ax.scatter([t.values[0] for t in scored], [t.values[1] for t in scored], s=10, c="tab:blue")
    if front:
        ax.plot([t.values[0] for t in front], [t.values[1] for t in front], "o-", c="tab:orange")
    ax.set_xlabel(f"{study.objectives[0]} ({study.directions[0]})")
    ax.set_ylabel(f"{study.objectives[1]} ({study.directions[1]})")
    ax.set_title("Pareto front")
