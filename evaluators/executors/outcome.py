"""What an evaluation ends as (`Outcome`), and `run_evaluation`, which never raises:
exceptions, non-finite results and pruning all become an `Outcome` with a state and an error text."""

from __future__ import annotations

import pickle
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from hashtune.evaluators.base import (
    EvaluationResult,
    Evaluator,
    StagedArtifact,
    TrialContext,
    TrialPruned,
)
from hashtune.evaluators.executors.pruning_channel import ShouldPrune
from hashtune.vocabulary import TrialState

#: What an evaluation ends as (the loop adds CACHED and INTERRUPTED).


OutcomeState = TrialState


@dataclass
class Outcome:
    """What became of one evaluation; picklable so it can cross process/cluster boundaries."""

    state: OutcomeState
    result: EvaluationResult | None = None
    error: str | None = None
    intermediate: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0
    #: The evaluator raised KeyboardInterrupt: the run stops as on Ctrl-C (see EvaluatorInterrupt).
    interrupted: bool = False
    #: Files the evaluation saved (`TrialContext.save_artifact`), staged where it ran.
    artifacts: list[StagedArtifact] = field(default_factory=list)
    #: Attributes the evaluator set with `context.set_user_attr` (kept whatever the state).
    user_attrs: dict[str, Any] = field(default_factory=dict)
    #: The exception the evaluator raised (dropped on the way back from a worker when it does
    #: not pickle) and its class's MRO as ``module.Qualname`` (always kept), for `catch=`.
    exception: BaseException | None = None
    exception_types: tuple[str, ...] = ()

    @property
    def values(self) -> tuple[float, ...] | None:
        """The objective values of a COMPLETE outcome, else None."""
        return self.result.values if self.state == TrialState.COMPLETE and self.result else None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        exc = state.get("exception")
        if exc is not None:
            try:
                pickle.loads(pickle.dumps(exc))
            except Exception:  # noqa: BLE001 - an exception that cannot cross processes
                state["exception"] = None
            else:
                state["exception"] = exc.with_traceback(None)
        return state


def interrupted_outcome(number: int, ctx: TrialContext, seconds: float) -> Outcome:
    error = f"KeyboardInterrupt raised by the evaluator of trial {number}"
    return Outcome(
        TrialState.FAILED,
        None,
        error,
        intermediate=list(ctx.intermediate),
        seconds=seconds,
        interrupted=True,
        artifacts=list(ctx.artifacts),
        user_attrs=dict(ctx.user_attrs),
    )


def error_text(exc: BaseException) -> str:
    """'Type: message' first (readable in tables), then the full traceback."""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"{type(exc).__name__}: {exc}\n{tb}"


def exception_types(exc: BaseException) -> tuple[str, ...]:
    """The MRO of `exc`'s class as ``module.Qualname`` strings (matched against `catch=`)."""
    return tuple(f"{c.__module__}.{c.__qualname__}" for c in type(exc).__mro__)


def run_evaluation(
    evaluator: Evaluator,
    candidate: Any,
    number: int,
    should_prune: ShouldPrune | None = None,
    context: TrialContext | None = None,
) -> Outcome:
    """Evaluate `candidate` and classify the result; never raises (KeyboardInterrupt aside).

    Any exception → FAILED with its traceback; `TrialPruned` → PRUNED; NaN/inf or a wrong number of
    objective values → FAILED naming the values. Intermediate values are kept in every case.
    `context` lets a caller share the TrialContext (e.g. to read intermediates after a timeout).
    """
    ctx = context if context is not None else TrialContext(number, should_prune)
    t0 = time.perf_counter()

    def outcome(
        state: OutcomeState, result: Any = None, error: str | None = None, exc: Any = None
    ) -> Outcome:
        return Outcome(
            state,
            result,
            error,
            intermediate=list(ctx.intermediate),
            seconds=time.perf_counter() - t0,
            artifacts=list(ctx.artifacts),
            user_attrs=dict(ctx.user_attrs),
            exception=exc,
            exception_types=exception_types(exc) if exc is not None else (),
        )

    try:
        raw = evaluator.evaluate(candidate, ctx)
    except TrialPruned as e:
        return outcome(TrialState.PRUNED, error=str(e) or "pruned")
    except (KeyboardInterrupt, GeneratorExit):
        raise
    except BaseException as e:  # noqa: BLE001 - SystemExit from candidate code is a failure too
        return outcome(TrialState.FAILED, error=error_text(e), exc=e)
    try:
        result = EvaluationResult.coerce(raw)
    except Exception as e:  # noqa: BLE001
        return outcome(TrialState.FAILED, error=f"invalid result: {e}")
    n_obj = len(evaluator.objectives)
    if len(result.values) != n_obj:
        return outcome(
            TrialState.FAILED,
            error=f"invalid result: expected {n_obj} values for objectives "
            f"{tuple(evaluator.objectives)!r}, got {result.values!r}",
        )
    if not result.intermediate:
        result.intermediate = list(ctx.intermediate)
    return outcome(TrialState.COMPLETE, result)
