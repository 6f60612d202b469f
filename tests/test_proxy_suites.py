"""Search, validation and meta-test suites stay apart; program padding follows `instr_pad`."""

from __future__ import annotations

import random

from hashtune.evaluators.batched_training import encode
from hashtune.evaluators.optimizer_suite import (
    FIDELITIES,
    META_FIDELITY,
    QUICK_FIDELITIES,
    QUICK_META_FIDELITY,
    SCALED_FIDELITIES,
    VALIDATION_FIDELITY,
)
from hashtune.spaces.optimizers.slots import SlotProgram
from hashtune.spaces.optimizers.space import optimizer_program_space


def _specs(fids) -> set:
    return {t for f in fids for t in f.tasks}


def test_validation_tasks_are_neither_searched_nor_meta_tasks() -> None:
    search = _specs(FIDELITIES.values()) | _specs(SCALED_FIDELITIES.values())
    val, meta = set(VALIDATION_FIDELITY.tasks), set(META_FIDELITY.tasks)
    assert val and not val & search and not val & meta and not meta & search
    assert not _specs(QUICK_FIDELITIES.values()) & set(QUICK_META_FIDELITY.tasks)


def test_encode_pads_to_the_requested_multiple() -> None:
    space = optimizer_program_space(max_statements=8)
    rng = random.Random(2)
    progs = [SlotProgram.random(space, rng) for _ in range(5)]
    assert max(len(p.live()) for p in progs) <= 8
    assert encode(progs, multiple=8).op.shape == (5, 8)
    assert encode(progs).op.shape == (5, 16)
