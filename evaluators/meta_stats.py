"""Replicated suite scores and a noise-aware verdict of a program against Adam.

One meta-test score (`SuiteScorer`, 2 seeds) moves by up to ~0.1 between calls, for Adam too:
training is chaotic and float32 numerics depend on the batch. `ReplicateScorer` trains the suite
with `replicates` times the fidelity's seeds in one call and scores each group of `seeds` seeds
as one replicate of the suite (each side at its own best learning rate within the replicate,
against Adam trained alone on the same seeds). `paired_ci` bootstraps the suite mean of a
(replicate x task) difference, resampling replicates within each task (the tasks are fixed, the
seeds are the noise); `verdict` reads the interval against a noise band (Adam in the batch vs
Adam alone): "beats" (interval above 0), "matches" (it holds 0, or the mean is within the band)
or "below".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from hashtune.evaluators.optimizer_suite import Fidelity, SuiteScorer, relative_scores
from hashtune.spaces.optimizers.program import Program
from hashtune.spaces.optimizers.seeds import ADAM

VERDICTS = ("beats", "matches", "below")


class ReplicateScorer:
    """`fidelity` trained `replicates` times over (seeds x replicates, one call per batch)."""

    def __init__(self, fidelity: Fidelity, replicates: int, population_axis: str = "auto"):
        if not isinstance(replicates, int) or replicates < 2:
            raise ValueError(f"`replicates` must be an int >= 2, got {replicates!r}")
        self.fidelity = fidelity
        self.replicates = replicates
        wide = replace(fidelity, seeds=fidelity.seeds * replicates)
        self.scorer = SuiteScorer(wide, population_axis=population_axis)
        self.names = self.scorer.suite.names
        self._ref: np.ndarray | None = None

    def _groups(self, losses: np.ndarray) -> list[np.ndarray]:
        k = self.fidelity.seeds
        return [losses[:, r * k : (r + 1) * k] for r in range(self.replicates)]

    @property
    def reference(self) -> np.ndarray:
        """Adam alone: best mean log10 loss per replicate and task, (R, T)."""
        if self._ref is None:
            losses = self.scorer.trainer.losses([Program.from_source(ADAM)])
            refs = []
            for g in self._groups(np.asarray(losses)):
                logl = np.log10(np.maximum(g[0], 1e-30)).mean(axis=0)
                refs.append(logl.min(axis=0))
            self._ref = np.stack(refs)
        return self._ref

    def task_scores(self, programs: Sequence[Program]) -> np.ndarray:
        """Clipped task scores (N, R, T), replicate r relative to Adam alone on its seeds."""
        ref = self.reference
        losses = np.asarray(self.scorer.trainer.losses(list(programs)))
        return np.stack(
            [relative_scores(g, ref[r])[0] for r, g in enumerate(self._groups(losses))], axis=1
        )


def paired_ci(
    diff: np.ndarray, n_boot: int = 4000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(mean, lo, hi) of the suite mean of `diff` (R, T), replicates resampled per task."""
    diff = np.asarray(diff, dtype=float)
    if diff.ndim != 2 or diff.shape[0] < 2:
        raise ValueError(f"`diff` must be (replicates >= 2, tasks), got shape {diff.shape}")
    r, t = diff.shape
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, r, size=(n_boot, r, t))
    boots = diff[idx, np.arange(t)[None, None, :]].mean(axis=(1, 2))
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(boots, [a, 1.0 - a])
    return float(diff.mean()), float(lo), float(hi)


def noise_band(adam_in_batch: np.ndarray, **kw: float) -> float:
    """How far Adam's own suite mean strays from Adam alone: max |end| of its interval."""
    _, lo, hi = paired_ci(adam_in_batch, **kw)  # type: ignore[arg-type]
    return max(abs(lo), abs(hi))


def verdict(mean: float, lo: float, hi: float, band: float) -> str:
    """'beats' if lo > 0; 'matches' if lo <= 0 <= hi or mean >= -band; else 'below'."""
    if lo > 0:
        return "beats"
    if hi >= 0 or mean >= -band:
        return "matches"
    return "below"


def compare(
    scores: np.ndarray, adam_row: int, n_boot: int = 4000, seed: int = 0
) -> tuple[float, list[dict[str, float | str]]]:
    """(noise band, per program: meta, its interval, paired diff vs Adam, interval, verdict).

    `scores` (N, R, T) from `ReplicateScorer.task_scores`; `adam_row` is Adam's row in the same
    batch. The diff pairs each program with that row on the same replicate and task.
    """
    scores = np.asarray(scores, dtype=float)
    adam = scores[adam_row]
    band = noise_band(adam, n_boot=n_boot, seed=seed)
    out: list[dict[str, float | str]] = []
    for s in scores:
        m, mlo, mhi = paired_ci(s, n_boot=n_boot, seed=seed)
        d, dlo, dhi = paired_ci(s - adam, n_boot=n_boot, seed=seed)
        out.append(
            {
                "meta": m,
                "meta_lo": mlo,
                "meta_hi": mhi,
                "diff": d,
                "diff_lo": dlo,
                "diff_hi": dhi,
                "verdict": verdict(d, dlo, dhi, band),
            }
        )
    return band, out
