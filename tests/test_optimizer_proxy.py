"""The meta-training proxy evaluator for optimizer programs."""

from __future__ import annotations

import random
import statistics

import pytest

from hashtune.evaluators.base import Evaluator, TrialContext
from hashtune.evaluators.optimizer_proxy import OptimizerProxyEvaluator
from hashtune.spaces.optimizers import Program
from hashtune.spaces.optimizers.seeds import SGD, seed_programs
from hashtune.spaces.optimizers.space import optimizer_program_space

NAN_PROGRAM = """
def update(w, g, m, v, lr):
    u = log(0.0 - abs(g) - 1.0) * lr
    return u, m, v
"""
FROZEN = "def update(w, g, m, v, lr):\n    return 0.0, m, v\n"


@pytest.fixture(scope="module")
def fast_eval():
    return OptimizerProxyEvaluator(tasks=("logreg",), steps=40, lr_grid=(0.01, 0.1), seed=0)


def test_nan_program_is_infeasible_not_an_error(fast_eval):
    res = fast_eval.evaluate(Program.from_source(NAN_PROGRAM), TrialContext())
    assert res.values == (0.0,)
    assert res.metadata["infeasible"] is True
    assert res.metadata["nonfinite_runs"] == 2


def test_partly_nonfinite_runs_score_zero_only_for_that_lr():
    # inf * 0.0 = nan once the state grows: only at the large learning rate.
    src = """
def update(w, g, m, v, lr):
    m = m + g * lr
    u = g * lr + exp(abs(m) * 1000.0) * 0.0
    return u, m, v
"""
    ev = OptimizerProxyEvaluator(tasks=("logreg",), steps=40, lr_grid=(1e-4, 1e-1), seed=0)
    res = ev.evaluate(Program.from_source(src))
    assert res.metadata["infeasible"] is False
    assert res.metadata["nonfinite_runs"] == 1
    small, large = res.metadata["val_accuracy"]["logreg"]
    assert large == 0.0 and small > 0.05 and res.values[0] == small


def test_learning_beats_frozen_and_is_deterministic(fast_eval):
    sgd = fast_eval.evaluate(SGD)
    frozen = fast_eval.evaluate(FROZEN)
    assert sgd.values[0] > frozen.values[0] + 0.3
    assert sgd.metadata["best_lr"]["logreg"] in (0.01, 0.1)
    again = OptimizerProxyEvaluator(tasks=("logreg",), steps=40, lr_grid=(0.01, 0.1), seed=0)
    assert again.evaluate(SGD).values == sgd.values
    assert again.fingerprint() == fast_eval.fingerprint()
    other = OptimizerProxyEvaluator(tasks=("logreg",), steps=40, lr_grid=(0.01, 0.1), seed=1)
    assert other.fingerprint() != fast_eval.fingerprint()


def test_config_and_validation(fast_eval):
    assert isinstance(fast_eval, Evaluator) and fast_eval.objectives == ("score",)
    cfg = fast_eval.config()
    for key in ("tasks", "steps", "lr_grid", "seed", "dataset", "split_seed", "val_fraction"):
        assert key in cfg
    assert cfg["lr_grid"] == [0.01, 0.1] and cfg["tasks"] == ["logreg"]
    with pytest.raises(ValueError, match="tasks"):
        OptimizerProxyEvaluator(tasks=("resnet",))
    with pytest.raises(ValueError, match="lr_grid"):
        OptimizerProxyEvaluator(lr_grid=(-1.0,))
    with pytest.raises(ValueError, match="candidate"):
        fast_eval.evaluate(42)


@pytest.mark.slow
def test_adam_and_lion_beat_random_programs():
    ev = OptimizerProxyEvaluator(seed=0)
    space = optimizer_program_space(max_statements=8)
    rng = random.Random(0)
    randoms = [ev.evaluate(space.materialize(space.random_dna(rng))).values[0] for _ in range(20)]
    median = statistics.median(randoms)
    seeds = seed_programs()
    adam = ev.evaluate(seeds["adam"]).values[0]
    lion = ev.evaluate(seeds["lion"]).values[0]
    assert adam > 0.9 and lion > 0.9
    assert adam > median + 0.3 and lion > median + 0.3, (adam, lion, sorted(randoms))
