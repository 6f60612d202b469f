"""Structured edits of slot lists: new EMAs, rewired reads, decay moves, program-aware operands.

The space's mutations draw the op, every operand (all registers + the grid) and the destination
uniformly, so an Adam-level program, one coordinated pair of edits away from RMSProp (a new EMA
`m = interp(g, m, 0.9)` and the update reading `m` instead of `g`), is almost never proposed.
`structured_edit` proposes such edits directly (each result a valid slot list of the same length;
what a program computes, and so its functional hash, is untouched: only proposals change):

- ema: insert `r = interp(x, r, beta)` before `r`'s first live read, `r` a state register (an
  unused one half the time) or a free scratch register, `x` `g` half the time else a register the
  program reads, a quarter of the time `square(x)` through a free scratch register, `beta` a grid
  decay (0.9 <= c < 1); half the time one later live read of `x` then reads `r` instead;
- rewire: one register operand of one live instruction reads another register (a state register
  half the time, else one the program writes before it or reads);
- decay: an `interp` weight on the decay grid moves to another grid decay;
- basic: the `mutate_many` edits (copy, swap, the space's mutations) with operands and
  destinations drawn from the program's own registers 3/4 of the time (`ProgramAware`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from hashtune.spaces.optimizers.instruction import NOOP, Instruction
from hashtune.spaces.optimizers.ops import OPS
from hashtune.spaces.optimizers.program import STATE, state_closure
from hashtune.spaces.optimizers.space import OptimizerProgramSpace

#: How often `structured_edit` draws each kind of edit.
STRUCTURED_WEIGHTS: dict[str, float] = {"ema": 0.2, "rewire": 0.15, "decay": 0.1, "basic": 0.55}
#: Edit function of `mutate_many` (space, slot list, rng) -> slot list: the "basic" kind.
BasicEdit = Callable[..., list]


def live_slots(instrs: Sequence[Instruction]) -> list[int]:
    """Indices of the non-noop instructions `update` and the live state depend on (in order)."""

    def back(outs: set[str]) -> tuple[list[int], set[str]]:
        needed, idx = set(outs), []
        for k in range(len(instrs) - 1, -1, -1):
            ins = instrs[k]
            if ins.op != NOOP and ins.dest in needed:
                idx.append(k)
                needed.discard(ins.dest)
                needed.update(a for a in ins.args if isinstance(a, str))
        return idx[::-1], needed

    live = state_closure(lambda s: back({"update", *s})[1])
    return back({"update", *live})[0]


def decays(space: OptimizerProgramSpace) -> list[float]:
    """The grid constants usable as an EMA decay: 0.9 <= c < 1."""
    return [c for c in space.constants if 0.9 <= c < 1.0]


class ProgramAware:
    """A space's instruction source whose draws favour the registers a program uses.

    3/4 of the time an operand is uniform over the registers the live code reads or writes, plus
    `g` and 'const' (a grid constant), and a destination uniform over the writable registers the
    live code reads plus `update`, `m`, `v`; else the space's own uniform draw.
    """

    def __init__(
        self, space: OptimizerProgramSpace, instrs: Sequence[Instruction], bias: float = 0.75
    ):
        self.space, self.bias = space, bias
        self.ops = space.ops
        self.writable = space.writable
        self.constants = space.constants
        live = [instrs[k] for k in live_slots(instrs)]
        reads = {a for i in live for a in i.args if isinstance(a, str)}
        used = reads | {i.dest for i in live} | {"g"}
        self.used = [r for r in space.readable if r in used]
        self.dests = [r for r in self.writable if r in reads | {"update", *STATE}]

    def random_arg(self, rng: random.Random, other_than: object = None) -> str | float:
        """A used register or a grid constant (w.p. `bias`), else the space's uniform operand."""
        if rng.random() < self.bias:
            for _ in range(8):
                k = rng.randrange(len(self.used) + 1)
                a = self.used[k] if k < len(self.used) else rng.choice(self.constants)
                if a != other_than:
                    return a
        return self.space.random_arg(rng, other_than)

    def random_instruction(self, rng: random.Random) -> Instruction:
        """A random op with `random_arg` operands and a favoured destination (w.p. `bias`)."""
        op = rng.choice(self.ops)
        args = tuple(self.random_arg(rng) for _ in range(OPS[op].arity))
        pool = self.dests if rng.random() < self.bias else self.writable
        return Instruction(op, rng.choice(pool), args)


def _insert(
    instrs: Sequence[Instruction],
    p: int,
    new: list[Instruction],
    live: set[int],
    rng: random.Random,
) -> list[Instruction] | None:
    """`new` inserted before slot `p`, as many free slots (noops, else dead code) removed; None
    when too few are free."""
    noops = [k for k, i in enumerate(instrs) if i.op == NOOP]
    dead = [k for k, i in enumerate(instrs) if i.op != NOOP and k not in live]
    pool = noops if len(noops) >= len(new) else noops + dead
    if len(pool) < len(new):
        return None
    drop = set(rng.sample(pool, len(new)))
    out = []
    for k, ins in enumerate(instrs):
        if k == p:
            out += new
        if k not in drop:
            out.append(ins)
    if p >= len(instrs):
        out += new
    return out


def ema_edit(
    space: OptimizerProgramSpace, instrs: list[Instruction], rng: random.Random
) -> list | None:
    """Insert `r = interp(x, r, beta)` (see the module docstring); None when it cannot."""
    betas = decays(space)
    if not betas:
        return None
    live = live_slots(instrs)
    reads = {a for k in live for a in instrs[k].args if isinstance(a, str)}
    written = {instrs[k].dest for k in live}
    states = [r for r in STATE if r in space.writable]
    free = [r for r in space.writable[3:] if r not in reads | written]
    unused = [r for r in states if r not in reads | written]
    u = rng.random()
    r = (
        rng.choice(unused)
        if u < 0.5 and unused
        else rng.choice(free if u >= 0.8 and free else states)
    )
    sources = sorted(reads - {r}) or ["g"]
    x = "g" if rng.random() < 0.5 and r != "g" else rng.choice(sources)
    beta = rng.choice(betas)
    first_read = [k for k in live if r in instrs[k].args]
    written_x = [k for k in live if instrs[k].dest == x]
    lo = written_x[0] + 1 if written_x else 0
    hi = first_read[0] if first_read and first_read[0] >= lo else len(instrs)
    out = list(instrs)
    later = [(k, j) for k in live if lo <= k <= hi for j, a in enumerate(instrs[k].args) if a == x]
    if later and rng.random() < 0.5:  # the EMA replaces `x` in one later live read
        k, j = rng.choice(later)
        args = list(out[k].args)
        args[j] = r
        out[k] = Instruction(out[k].op, out[k].dest, tuple(args))
        hi = k
    p = rng.choice([q for q in live if lo <= q < hi] + [hi])  # before a live instruction
    scratch = [s for s in free if s != r]
    if rng.random() < 0.25 and scratch:
        s = rng.choice(scratch)
        new = [Instruction("square", s, (x,)), Instruction("interp", r, (s, r, beta))]
    else:
        new = [Instruction("interp", r, (x, r, beta))]
    return _insert(out, p, new, set(live), rng)


def rewire_edit(
    space: OptimizerProgramSpace, instrs: list[Instruction], rng: random.Random
) -> list | None:
    """One register operand of one live instruction reads another register; None when none."""
    live = live_slots(instrs)
    sites = [(k, j) for k in live for j, a in enumerate(instrs[k].args) if isinstance(a, str)]
    if not sites:
        return None
    k, j = rng.choice(sites)
    old = instrs[k].args[j]
    if rng.random() < 0.5:
        pool = [r for r in STATE if r != old]
    else:
        before = {instrs[i].dest for i in live if i < k}
        reads = {a for i in live for a in instrs[i].args if isinstance(a, str)}
        pool = [r for r in space.readable if r in before | reads and r != old]
    if not pool:
        return None
    args = list(instrs[k].args)
    args[j] = rng.choice(pool)
    out = list(instrs)
    out[k] = Instruction(instrs[k].op, instrs[k].dest, tuple(args))
    return out


def decay_edit(
    space: OptimizerProgramSpace, instrs: list[Instruction], rng: random.Random
) -> list | None:
    """A live `interp` weight on the decay grid moves to another grid decay; None when none."""
    betas = decays(space)
    sites = [
        k
        for k in live_slots(instrs)
        if instrs[k].op == "interp" and instrs[k].args[2] in betas and len(betas) > 1
    ]
    if not sites:
        return None
    k = rng.choice(sites)
    ins = instrs[k]
    out = list(instrs)
    beta = rng.choice([c for c in betas if c != ins.args[2]])
    out[k] = Instruction(ins.op, ins.dest, (*ins.args[:2], beta))
    return out


_EDITS = {"ema": ema_edit, "rewire": rewire_edit, "decay": decay_edit}


def structured_weights(weight: float = 1.0) -> list[float]:
    """`STRUCTURED_WEIGHTS`' values with ema, rewire and decay scaled by `weight` (basic kept)."""
    if weight < 0:
        raise ValueError(f"`weight` must be >= 0, got {weight!r}")
    return [w if k == "basic" else w * weight for k, w in STRUCTURED_WEIGHTS.items()]


def structured_edit(
    space: OptimizerProgramSpace,
    instrs: list[Instruction],
    rng: random.Random,
    basic: BasicEdit,
    weight: float = 1.0,
) -> list[Instruction]:
    """One edit of `STRUCTURED_WEIGHTS`' kinds (the structured ones scaled by `weight`);
    `basic(source, instrs, rng)` (with a `ProgramAware` source) also where a structured kind
    does not apply."""
    kind = rng.choices(list(STRUCTURED_WEIGHTS), weights=structured_weights(weight))[0]
    out = _EDITS[kind](space, instrs, rng) if kind in _EDITS else None
    return out if out is not None else basic(ProgramAware(space, instrs), instrs, rng)
