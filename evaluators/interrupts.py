"""KeyboardInterrupt raised by an evaluator's own code, told apart from Ctrl-C where possible."""

from __future__ import annotations

#: Name prefix of the daemon threads that run in-process evaluations under a timeout.
TRIAL_THREAD = "hashtune-trial-"


class EvaluatorInterrupt(KeyboardInterrupt):
    """The evaluator of trial `number` raised KeyboardInterrupt; the run stops as on Ctrl-C.

    Like Optuna (the trial fails, the KeyboardInterrupt stops `optimize`), except that the trial is
    marked interrupted, not scored: it does not count toward the budget and a resume proposes it
    again. Ctrl-C itself reaches only the driver (pool workers ignore SIGINT), so a KeyboardInterrupt
    in a worker or an evaluation thread comes from the evaluator's own code.
    """

    def __init__(self, number: int, by_evaluator: bool = True):
        what = "raised by the evaluator" if by_evaluator else "during the evaluation"
        super().__init__(f"KeyboardInterrupt {what} of trial {number}")
        self.number = number
        #: False when it may as well be Ctrl-C (an in-process evaluation on the main thread).
        self.by_evaluator = by_evaluator


__all__ = ["TRIAL_THREAD", "EvaluatorInterrupt"]
