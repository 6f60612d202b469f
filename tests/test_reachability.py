"""Structured edits: always valid, deterministic per seed, and they reach Adam-level programs."""

from __future__ import annotations

import random

import pytest

from hashtune.hashing import functional_hash, functional_hashes
from hashtune.spaces.optimizers.edits import (
    ProgramAware,
    decay_edit,
    ema_edit,
    live_slots,
    rewire_edit,
)
from hashtune.spaces.optimizers.instruction import NOOP_INSTRUCTION, Instruction
from hashtune.spaces.optimizers.ops import OPS
from hashtune.spaces.optimizers.references import expressible_programs, reference_programs
from hashtune.spaces.optimizers.regalloc import allocate_registers
from hashtune.spaces.optimizers.slots import SlotProgram
from hashtune.spaces.optimizers.space import optimizer_program_space

SPACE = optimizer_program_space(max_statements=12)
REFS = {**reference_programs(), **expressible_programs()}


def _slots(name: str, decay: float | None = None) -> SlotProgram:
    instrs = allocate_registers(REFS[name], SPACE.writable[3:])
    if decay is not None:  # every 0.9 operand becomes `decay`
        instrs = [
            Instruction(i.op, i.dest, tuple(decay if a == 0.9 else a for a in i.args))
            for i in instrs
        ]
    return SlotProgram(SPACE, instrs + [NOOP_INSTRUCTION] * (12 - len(instrs)))


def _valid(p: SlotProgram) -> bool:
    """Every slot a noop or an op of the space with its arity, registers and grid constants
    (what `SPACE.encode` checks, without its PyGlove cost)."""

    def ok(i: Instruction) -> bool:
        if i.op == "noop":
            return True
        args_ok = all(a in SPACE.readable or a in SPACE.constants for a in i.args)
        return (
            i.op in SPACE.ops
            and i.dest in SPACE.writable
            and args_ok
            and len(i.args) == OPS[i.op].arity
        )

    return len(p.instrs) == SPACE.max_statements and all(ok(i) for i in p.instrs)


def test_structured_children_are_valid_programs() -> None:
    rng = random.Random(3)
    parents = [_slots(n) for n in ("rmsprop", "momentum", "sgd", "adam_nobc")]
    parents += [SlotProgram.random_short(SPACE, rng, k) for k in (1, 3, 6, 12)]
    kids = [q.mutate_many(rng, structured=True) for q in parents for _ in range(150)]
    assert all(_valid(c) for c in kids)
    owners = [q for q in parents for _ in range(150)]
    assert sum(c.instrs != p.instrs for c, p in zip(kids, owners, strict=True)) > 900
    for c in kids[::150]:  # encodable, and the SSA Program computes the same function
        SPACE.encode(c.instrs)
        assert functional_hashes([c]) == [functional_hash(c.program())]


def test_each_edit_keeps_length_and_validity() -> None:
    rng = random.Random(5)
    full = SlotProgram.random(SPACE, rng).instrs  # few noops: insertion may replace dead code
    for start in (_slots("rmsprop").instrs, full, _slots("sgd").instrs):
        for edit in (ema_edit, rewire_edit, decay_edit):
            for _ in range(100):
                out = edit(SPACE, list(start), rng)
                assert out is None or _valid(SlotProgram(SPACE, out))


def test_ema_edit_adds_a_live_ema_that_the_update_reads() -> None:
    rng = random.Random(0)
    outs = [ema_edit(SPACE, list(_slots("rmsprop", 0.999).instrs), rng) for _ in range(400)]
    lives = [[o[k] for k in live_slots(o)] for o in outs if o is not None]
    new_m = [
        lv
        for lv in lives
        if Instruction("interp", "m", ("g", "m", 0.9)) in lv
        and "m" in SlotProgram(SPACE, lv).live_state()
    ]
    assert len(new_m) >= 8  # a live m = interp(g, m, 0.9): RMSProp became Adam-like


def test_program_aware_operands_favour_used_registers() -> None:
    rng = random.Random(1)
    src = ProgramAware(SPACE, _slots("sgd").instrs)  # uses g, lr and writes update
    args = [src.random_arg(rng) for _ in range(2000)]
    used = sum(a in ("g", "lr", "update") for a in args) / len(args)
    uniform = sum(SPACE.random_arg(rng) in ("g", "lr", "update") for _ in range(2000)) / 2000
    assert used > 0.6 > 0.4 > uniform


def test_children_are_deterministic_for_a_seed() -> None:
    p = _slots("rmsprop")
    a = [p.mutate_many(random.Random(7), structured=True) for _ in range(2)]
    r1, r2 = random.Random(9), random.Random(9)
    assert a[0].instrs == a[1].instrs
    assert [p.mutate_many(r1, structured=True).instrs for _ in range(50)] == [
        p.mutate_many(r2, structured=True).instrs for _ in range(50)
    ]


def test_default_mutate_many_stream_is_unchanged() -> None:
    p = _slots("rmsprop")
    r1, r2 = random.Random(2), random.Random(2)
    assert [p.mutate_many(r1).instrs for _ in range(30)] == [
        p.mutate_many(r2, structured=False).instrs for _ in range(30)
    ]


def _hits(start: SlotProgram, n: int, structured: bool, seed: int) -> int:
    rng = random.Random(seed)
    kids = [start.mutate_many(rng, structured=structured) for _ in range(n)]
    unique = {k.live_key(): k for k in kids}
    target = functional_hashes([_slots("adam_nobc")])[0]
    hashes = dict(zip(unique, functional_hashes(list(unique.values())), strict=True))
    return sum(hashes[k.live_key()] == target for k in kids)


def test_rms999_reaches_adam_nobc_with_the_new_operator_only() -> None:
    start = _slots("rmsprop", 0.999)  # RMSProp with Adam's decay: one EMA + rewire away
    assert _hits(start, 3000, structured=True, seed=0) >= 3
    assert _hits(start, 3000, structured=False, seed=0) == 0


@pytest.mark.slow
def test_rmsprop_reaches_adam_nobc_with_the_new_operator_only() -> None:
    start = _slots("rmsprop")  # a new EMA, the update rewired to it and v's decay 0.9 -> 0.999
    assert _hits(start, 40000, structured=True, seed=0) >= 1
    assert _hits(start, 40000, structured=False, seed=0) == 0
