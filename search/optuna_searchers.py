"""The registered Bayesian searchers on Optuna samplers: TPE, GP, CMA-ES, QMC.

Each is an `OptunaSearcher` (see `optuna_study`: a private in-memory Optuna study driven through
ask/tell) whose sampler takes its keyword arguments from the experiment file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.samplers import BaseSampler

from hashtune.search.optuna_gp import CappedGPSampler
from hashtune.search.optuna_restore import FlatEncoder
from hashtune.search.optuna_study import DISCARDED_ATTR, OptunaSearcher, quiet_optuna
from hashtune.search.optuna_tpe import IncrementalTPESampler
from hashtune.search.registry import register_searcher
from hashtune.spaces.base import Space
from hashtune.vocabulary import Direction

__all__ = [
    "DISCARDED_ATTR",
    "CMAESSearcher",
    "GPSearcher",
    "OptunaSearcher",
    "QMCSearcher",
    "SamplerSearcher",
    "TPESearcher",
    "has_conditional_decisions",
]


def has_conditional_decisions(space: Space) -> bool:
    """Whether some decision point exists only under a choice of another."""
    return any(dp.parent_choice is not None for dp in space.dna_spec.decision_points)


class SamplerSearcher(OptunaSearcher):
    """An `OptunaSearcher` whose sampler takes keyword arguments from the experiment file, merged
    over the subclass's `default_sampler_kwargs`."""

    default_sampler_kwargs: dict[str, Any] = {}
    single_objective: bool = False

    def __init__(
        self,
        space: Space,
        directions: Sequence[Direction] = (Direction.MAXIMIZE,),
        seed: int = 0,
        **sampler_kwargs: Any,
    ):
        if self.single_objective and len(tuple(directions)) != 1:
            raise ValueError(
                f"searcher {self.name!r} is single-objective, got `directions` {directions!r}"
            )
        self.sampler_kwargs = {**self.default_sampler_kwargs, **sampler_kwargs}
        super().__init__(space, directions, seed)


@register_searcher("tpe")
class TPESearcher(SamplerSearcher):
    """Multivariate, grouped TPE with constant liar (`TPESampler` kwargs pass through).

    `group=True` (the default on spaces with conditional decision points) makes the multivariate
    model work on each group of decision points that occur together, so conditional spaces are
    modelled jointly instead of silently falling back to independent sampling (optuna#3363).
    """

    name = "tpe"

    default_sampler_kwargs = {"multivariate": True, "constant_liar": True}

    def make_sampler(self, seed: int) -> BaseSampler:
        kwargs = dict(self.sampler_kwargs)
        # Grouping costs a pass over every trial per ask: only conditional spaces need it.
        kwargs.setdefault("group", has_conditional_decisions(self.space))
        with quiet_optuna():
            return IncrementalTPESampler(seed=seed, **kwargs)


@register_searcher("gp")
class GPSearcher(SamplerSearcher):
    """Gaussian-process BO (`GPSampler`, needs torch); pending trials enter its acquisition.

    `max_trials` (default 300, None: all) caps the finished trials the GP is fitted on, the
    best half and the most recent rest (`optuna_gp.CappedGPSampler`): an exact GP fit costs
    O(n³), so an uncapped GP on a resumed 10k-trial study takes minutes per ask.
    """

    name = "gp"

    default_sampler_kwargs = {"warn_independent_sampling": False, "max_trials": 300}

    def make_sampler(self, seed: int) -> BaseSampler:
        try:
            import greenlet  # noqa: F401
            import torch  # noqa: F401
        except ImportError as e:
            raise ValueError(
                f"searcher 'gp' needs torch and greenlet (Optuna's GPSampler); {e.name} is missing: "
                "pip install 'hashtune[gp]'"
            ) from e
        kwargs = dict(self.sampler_kwargs)
        kwargs.setdefault("independent_sampler", optuna.samplers.RandomSampler(seed=seed))
        with quiet_optuna():
            return CappedGPSampler(seed=seed, **kwargs)

    def restore_mask(self, values: list[list[float]]) -> Any:
        """Only the trials the capped GP can ever fit on again (`CappedGPSampler.restore_mask`):
        a resumed 10k-trial study restores 300 of them, not 10,000. Flat spaces only: on a
        conditional one the search space Optuna infers is the intersection over all trials."""
        sampler = self.study.sampler
        if not isinstance(sampler, CappedGPSampler) or FlatEncoder.of(self.space) is None:
            return None
        return sampler.restore_mask(values, list(self.study.directions))


@register_searcher("cmaes")
class CMAESSearcher(SamplerSearcher):
    """CMA-ES (`CmaEsSampler`, needs `cmaes`) on the float/int decision points present in every
    trial; categorical and conditional ones go to its independent sampler (TPE by default).
    Single-objective only."""

    name = "cmaes"

    default_sampler_kwargs = {"warn_independent_sampling": False}
    single_objective = True

    def make_sampler(self, seed: int) -> BaseSampler:
        try:
            import cmaes  # noqa: F401
        except ImportError as e:
            raise ValueError("searcher 'cmaes' needs the `cmaes` package: pip install cmaes") from e
        kwargs = dict(self.sampler_kwargs)
        if "independent_sampler" not in kwargs:
            kwargs["independent_sampler"] = optuna.samplers.TPESampler(
                seed=seed, constant_liar=True
            )
        with quiet_optuna():
            return optuna.samplers.CmaEsSampler(seed=seed, **kwargs)


@register_searcher("qmc")
class QMCSearcher(SamplerSearcher):
    """Quasi-Monte-Carlo space filling (scrambled Sobol by default; `QMCSampler` kwargs pass)."""

    name = "qmc"

    default_sampler_kwargs = {
        "qmc_type": "sobol",
        "scramble": True,
        "warn_independent_sampling": False,
    }

    def make_sampler(self, seed: int) -> BaseSampler:
        kwargs = dict(self.sampler_kwargs)
        kwargs.setdefault("independent_sampler", optuna.samplers.RandomSampler(seed=seed))
        with quiet_optuna():
            return optuna.samplers.QMCSampler(seed=seed, **kwargs)
