"""Slot programs: dead code dropped, hashes memoisable by live code, structured mutations valid."""

from __future__ import annotations

import random

import numpy as np

from hashtune.hashing import functional_hash, functional_hashes, output_digest
from hashtune.hashing.functional_hash import output_digests
from hashtune.spaces.optimizers.slots import SlotProgram
from hashtune.spaces.optimizers.space import NOOP, Instruction, optimizer_program_space


def _space():
    return optimizer_program_space(max_statements=6)


def test_dead_code_is_dropped_and_hashes_alike() -> None:
    space = _space()
    live = [Instruction("mul", "update", ("g", "lr"))]
    dead = [
        Instruction("exp", "s0", ("w",)),  # never read
        Instruction("log", "s1", ("v",)),
        Instruction("mul", "update", ("g", "lr")),
        Instruction("add", "s2", ("update", 1.0)),  # written after the last use
    ]
    a, b = SlotProgram(space, live), SlotProgram(space, dead)
    assert b.live() == live and a.live_key() == b.live_key()
    assert len(b.arrays().op) == 8
    assert functional_hashes([a, b])[0] == functional_hashes([a, b])[1]
    assert functional_hashes([b]) == [functional_hash(b.program())]


def test_overwritten_register_keeps_the_write_that_is_read() -> None:
    space = _space()
    instrs = [
        Instruction("mul", "s0", ("g", 2.0)),
        Instruction("mul", "update", ("s0", "lr")),  # reads the first s0
        Instruction("neg", "s0", ("g",)),  # dead overwrite
    ]
    p = SlotProgram(space, instrs)
    assert p.live() == instrs[:2]
    assert functional_hashes([p]) == [functional_hash(p.program())]


def test_batched_hashes_equal_one_at_a_time_for_odd_group_sizes() -> None:
    space = _space()
    rng = random.Random(11)
    progs = [SlotProgram.random(space, rng) for _ in range(7)]
    for n in (1, 3, 5, 7):
        assert functional_hashes(progs[:n]) == [functional_hash(q.program()) for q in progs[:n]]


def test_output_digests_equal_output_digest() -> None:
    rng = np.random.default_rng(0)
    leaves = [rng.standard_normal((5, 4, 3)) * 10.0 ** rng.integers(-9, 9, (5, 4, 3))]
    leaves.append(np.where(rng.random((5, 4)) < 0.3, np.nan, rng.standard_normal((5, 4))))
    many = output_digests(leaves)
    assert many == [output_digest([leaf[i] for leaf in leaves]) for i in range(5)]
    assert len(set(many)) == 5


def test_short_random_programs_and_structured_mutations_stay_valid() -> None:
    space = _space()
    rng = random.Random(4)
    for k in (1, 3, 9):
        p = SlotProgram.random_short(space, rng, k)
        assert len(p.instrs) == 6
        assert sum(i.op != NOOP for i in p.instrs) == min(k, 6)
    parent = SlotProgram.random_short(space, rng, 3)
    children = [parent.mutate_many(rng) for _ in range(200)]
    assert all(len(c.instrs) == 6 for c in children)
    assert sum(c.instrs != parent.instrs for c in children) > 150
    for c in children[:20]:
        c.program()  # materialises into a valid SSA program
        assert functional_hashes([c]) == [functional_hash(c.program())]
