"""Batched training of optimizer programs equals one-at-a-time training (CPU, tiny tasks)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from hashtune.evaluators.batched_training import (
    BatchedTrainer,
    SingleTrainer,
    bucket,
    encode,
    prepare_suite,
)
from hashtune.evaluators.proxy_tasks import TaskSpec
from hashtune.hashing import functional_hashes
from hashtune.spaces.optimizers.references import reference_programs
from hashtune.spaces.optimizers.slots import SlotProgram
from hashtune.spaces.optimizers.space import optimizer_program_space

TINY = (
    TaskSpec("lin", "linreg", dim=4, cond=100.0, samples=16, batch=8),
    TaskSpec("par", "parity", hidden=(4,), activation="tanh", dim=3, batch=8),
)
LRS = (0.003, 0.03)


@pytest.fixture(scope="module")
def suite():
    return prepare_suite(TINY, steps=6, seeds=2, seed=0)


@pytest.fixture(scope="module")
def programs():
    space = optimizer_program_space(max_statements=6)
    rng = random.Random(5)
    slots = [SlotProgram.random(space, rng) for _ in range(3)]
    return list(reference_programs().values()), slots


def _same(a: np.ndarray, b: np.ndarray) -> None:
    """Equal to float32 rounding: the interpreter and XLA's compiled program may round one op
    differently (an ulp), which `sign`-like ops and large learning rates can amplify within a
    few steps; so nearly all entries agree to 1e-5 and every one to 1e-3."""
    assert a.shape == b.shape
    assert (np.isfinite(a) == np.isfinite(b)).all()
    fin = np.isfinite(a)
    rel = np.abs(a[fin] - b[fin]) / np.maximum(np.abs(b[fin]), 1e-7)
    assert (rel < 1e-5).mean() >= 0.9, np.sort(rel)[-10:]
    assert rel.max() < 1e-3, np.sort(rel)[-10:]


def test_batched_equals_one_at_a_time(suite, programs):
    refs, slots = programs
    progs = refs + [s.program() for s in slots]  # 10 programs: bucket 32
    batched = BatchedTrainer(suite, LRS).losses(refs + slots)
    single = SingleTrainer(suite, LRS).losses(progs)
    assert batched.shape == (len(progs), 2, len(LRS), 2)
    _same(batched, single)
    # the references train: Adam lowers both tasks' loss below the start at some lr
    assert np.isfinite(batched[0]).all()


def test_population_map_equals_vmap_and_padding_changes_nothing(suite, programs):
    refs, _ = programs
    vm = BatchedTrainer(suite, LRS, population_axis="vmap").losses(refs)
    mp = BatchedTrainer(suite, LRS, population_axis="map").losses(refs)
    _same(vm, mp)
    assert bucket(len(refs)) == 8 and bucket(9) == 32 and bucket(1025) == 2048


def test_slot_program_arrays_match_its_program_and_hash_alike(programs):
    _, slots = programs
    a = encode(slots, pad_to=16)
    b = encode([s.program() for s in slots], pad_to=16)
    assert a.op.shape == b.op.shape == (3, 16)
    assert functional_hashes(slots) == functional_hashes([s.program() for s in slots])


def test_bad_population_axis_is_refused(suite):
    with pytest.raises(ValueError, match="population_axis"):
        BatchedTrainer(suite, LRS, population_axis="pmap")


def test_unrolled_interpreter_trains_like_the_scanned_one(suite, programs):
    refs, slots = programs
    unrolled = BatchedTrainer(suite, LRS, population_axis="map")
    scanned = BatchedTrainer(suite, LRS, population_axis="map", unroll=False)
    assert unrolled.unroll and not scanned.unroll
    assert not BatchedTrainer(suite, LRS, population_axis="vmap").unroll
    _same(unrolled.losses(refs + slots), scanned.losses(refs + slots))
