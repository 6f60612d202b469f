"""The words every folder shares: trial states, objective directions and default time limits.

A leaf module (it imports nothing of hashtune), so spaces, searchers, hashing, evaluators, the
store and the CLI all speak one vocabulary. The enums are `str` subclasses: a state or direction
compares equal to its stored text (`TrialState.CACHED == "CACHED"`), so rows, JSON and
experiment files keep their plain strings.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence


class TrialState(enum.StrEnum):
    """Where a trial is in its life; stored as this text in the trials table."""

    PENDING = "PENDING"  # reserved by a worker, no proposal yet
    RUNNING = "RUNNING"  # proposed and being evaluated
    COMPLETE = "COMPLETE"  # evaluated and scored (the trial paid)
    CACHED = "CACHED"  # scored from the equivalence cache (another trial paid)
    FAILED = "FAILED"  # the evaluation raised, timed out or returned bad values
    PRUNED = "PRUNED"  # stopped early by the pruner
    INTERRUPTED = "INTERRUPTED"  # cut short by Ctrl-C or a dead owner; runs again on resume

    @property
    def scored(self) -> bool:
        """Carries objective values a searcher learns from (paid or served)."""
        return self in SCORED_STATES

    @property
    def finished(self) -> bool:
        """No worker will touch the trial again."""
        return self in FINISHED_STATES


#: States whose values count: the trial paid, or the cache served what another trial paid.
SCORED_STATES: frozenset[TrialState] = frozenset({TrialState.COMPLETE, TrialState.CACHED})
#: Terminal states a finished trial may take (INTERRUPTED trials do not count towards a budget).
FINISHED_STATES: frozenset[TrialState] = frozenset(
    {
        TrialState.COMPLETE,
        TrialState.CACHED,
        TrialState.FAILED,
        TrialState.PRUNED,
        TrialState.INTERRUPTED,
    }
)
#: States that count towards a study's trial budget.
COUNTED_STATES: frozenset[TrialState] = FINISHED_STATES - {TrialState.INTERRUPTED}


class Direction(enum.StrEnum):
    """Which way an objective improves."""

    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"

    @property
    def sign(self) -> float:
        """+1 for maximize, -1 for minimize: `sign * value` is larger when better."""
        return 1.0 if self is Direction.MAXIMIZE else -1.0

    def better(self, a: float, b: float) -> bool:
        """Whether value `a` is strictly better than value `b` in this direction."""
        return a > b if self is Direction.MAXIMIZE else a < b


def directions(values: Iterable[str], field: str = "directions") -> tuple[Direction, ...]:
    """Parse direction names; a bad one raises ValueError naming `field` and the value."""
    out = []
    for i, value in enumerate(values):
        try:
            out.append(Direction(value))
        except ValueError:
            raise ValueError(
                f"`{field}[{i}]` must be 'maximize' or 'minimize', got {value!r}"
            ) from None
    if not out:
        raise ValueError(f"`{field}` must name at least one direction")
    return tuple(out)


def signs(dirs: Sequence[str]) -> list[float]:
    """+1/-1 per objective, so that larger `sign * value` is better on every objective."""
    return [Direction(d).sign for d in dirs]


def is_maximize(dirs: Sequence[str]) -> bool:
    """Whether the first (primary) objective is maximised."""
    return Direction(dirs[0]) is Direction.MAXIMIZE


#: A trial evaluation's default time limit (Ray Tune and Optuna have none; an hour bounds a hang).
DEFAULT_TRIAL_TIMEOUT_S = 3600.0
#: How long a worker waits for a peer that is evaluating the same function before paying itself.
DEFAULT_CACHE_WAIT_S = 3600.0
#: A cache claim older than this with no heartbeat belongs to a dead worker and may be taken.
DEFAULT_CLAIM_STALE_S = 3600.0
#: Seconds in an hour, for reports in GPU hours.
SECONDS_PER_HOUR = 3600.0
