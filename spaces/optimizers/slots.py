"""Register-machine programs as plain slot lists: arrays, hashing and mutation without PyGlove.

A search that proposes thousands of programs a second cannot afford a PyGlove `DNA` and
`Program` per proposal (tens of milliseconds each). `SlotProgram` holds the slot list of
`OptimizerProgramSpace` (its `Instruction`s) and turns it straight into `ProgramArrays` (same
semantics as `space.program_of`: registers always hold a value, `update` and scratch start at 0),
into the functional hash's batched executable, or, on demand, into the `Program`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from hashtune.spaces.base import BATCHED_META_KEY, Executable
from hashtune.spaces.optimizers.batched import (
    MAX_ARITY,
    NUM_INPUTS,
    ProgramArrays,
    run_program_arrays,
)
from hashtune.spaces.optimizers.edits import structured_edit
from hashtune.spaces.optimizers.instruction import NOOP, Instruction, InstructionSource
from hashtune.spaces.optimizers.mutations import mutate_instructions
from hashtune.spaces.optimizers.ops import OP_NAMES
from hashtune.spaces.optimizers.program import (
    INPUT_SPECS,
    INPUTS,
    STATE,
    Program,
    state_closure,
)
from hashtune.spaces.optimizers.space import OptimizerProgramSpace

_OP_INDEX = {name: i for i, name in enumerate(OP_NAMES)}


class SlotProgram:
    """A slot list of `space`; `arrays(n)` is its register machine padded to `n` instructions."""

    __slots__ = ("space", "instrs")

    def __init__(self, space: OptimizerProgramSpace, instrs: Sequence[Instruction]):
        self.space, self.instrs = space, tuple(instrs)

    @classmethod
    def random(cls, space: OptimizerProgramSpace, rng: random.Random) -> SlotProgram:
        """Every slot a noop with probability 1/(ops + 1), else a random instruction (as
        `space.random_dna` draws)."""
        p_noop = 1.0 / (len(space.ops) + 1)
        return cls(
            space,
            [
                Instruction(NOOP) if rng.random() < p_noop else space.random_instruction(rng)
                for _ in range(space.max_statements)
            ],
        )

    @classmethod
    def random_short(cls, space: OptimizerProgramSpace, rng: random.Random, k: int) -> SlotProgram:
        """`k` random instructions in random slots, the rest noops (AutoML-Zero's small starts)."""
        slots = [Instruction(NOOP)] * space.max_statements
        for i in rng.sample(range(space.max_statements), min(k, space.max_statements)):
            slots[i] = space.random_instruction(rng)
        return cls(space, slots)

    def mutate(self, rng: random.Random) -> SlotProgram:
        """One of the space's program-aware mutations."""
        return SlotProgram(self.space, mutate_instructions(self.space, list(self.instrs), rng)[0])

    def mutate_many(
        self,
        rng: random.Random,
        p_more: float = 0.5,
        most: int = 4,
        structured: bool = False,
        structured_weight: float = 1.0,
    ) -> SlotProgram:
        """1 + Geometric(`p_more`) edits (at most `most`), each a space mutation or, with
        probability 1/4 each, `copy` (an instruction duplicated into another slot, new
        destination half the time) or `swap` (two slots exchanged): larger, structured jumps.
        `structured`: each edit is `edits.structured_edit` (new EMAs, rewired reads, decay
        moves, else these edits with program-aware operands; `structured_weight` scales the
        share of the first three); the default stream is unchanged."""
        instrs = list(self.instrs)
        for _ in range(most):
            if structured:
                instrs = structured_edit(self.space, instrs, rng, _edit, structured_weight)
            else:
                instrs = _edit(self.space, instrs, rng)
            if rng.random() >= p_more:
                break
        return SlotProgram(self.space, instrs)

    def program(self) -> Program:
        """The SSA `Program` (PyGlove), e.g. to print or store."""
        return self.space.program_of(self.instrs)

    def live_state(self) -> tuple[str, ...]:
        """The state registers (`m`, `v`) whose input training reads, as `Program.live_state`."""
        return state_closure(lambda live: _backward(self.instrs, {"update", *live})[1])

    def live(self) -> list[Instruction]:
        """The non-noop instructions `update` and the live state depend on, in order (a dead
        state's instructions dropped: its output is its input, as `Program.live_outputs`)."""
        return _backward(self.instrs, {"update", *self.live_state()})[0]

    def live_key(self) -> tuple[Instruction, ...]:
        """The live instructions as a hashable key: equal keys compute the same function (and so
        have the same functional hash); a search can memoise hashes by it."""
        return tuple(self.live())

    def arrays(self, n: int | None = None) -> ProgramArrays:
        """`ProgramArrays` with one instruction per live slot (dead code dropped), padded to `n`
        (default: the next multiple of 8), float64."""
        active = self.live()
        n = n or max(8, -(-len(active) // 8) * 8)
        env: dict[str, tuple[bool, float]] = {r: (True, 0.0) for r in self.space.readable}
        env.update({r: (False, float(k)) for k, r in enumerate(INPUTS)})
        op = np.zeros(n, np.int32)
        src = np.zeros((n, MAX_ARITY), np.int32)
        const = np.zeros((n, MAX_ARITY), np.float64)
        is_const = np.zeros((n, MAX_ARITY), bool)
        for k, ins in enumerate(active):
            op[k] = _OP_INDEX[ins.op]
            for j, a in enumerate(ins.args):
                c, val = env[a] if isinstance(a, str) else (True, float(a))
                if c:
                    const[k, j], is_const[k, j] = val, True
                else:
                    src[k, j] = int(val)
            env[ins.dest] = (False, float(NUM_INPUTS + k))
        live = self.live_state()
        outs = [env["update"]] + [
            env[x] if x in live else (False, float(INPUTS.index(x))) for x in STATE
        ]
        return ProgramArrays(
            op,
            np.arange(NUM_INPUTS, NUM_INPUTS + n, dtype=np.int32),
            src,
            const,
            is_const,
            np.array([0 if c else int(v) for c, v in outs], np.int32),
            np.array([v if c else 0.0 for c, v in outs], np.float64),
            np.array([c for c, _ in outs], bool),
            np.zeros(n, np.float64),
        )

    def hash_form(self) -> tuple[Any, ProgramArrays, tuple[Any, ...]]:
        """(batched fn, arrays, input specs): what `functional_hashes` runs, no `Executable`."""
        return run_program_arrays, self.arrays(), INPUT_SPECS

    def executable(self) -> Executable:
        """The functional hash's form (batched only; the eager fn builds the `Program`)."""

        def run(param_fn: Any, *xs: Any) -> Any:
            return self.program().executable().fn(param_fn, *xs)

        return Executable(
            fn=run,
            inputs=INPUT_SPECS,
            static_key=None,
            meta={
                "kind": "optimizer_program",
                BATCHED_META_KEY: (run_program_arrays, self.arrays(16)),
            },
        )


def _backward(instrs: Sequence[Instruction], outs: set[str]) -> tuple[list[Instruction], set[str]]:
    """(the non-noop instructions the registers `outs` depend on, in order; the registers whose
    initial value they read)."""
    needed = set(outs)
    live: list[Instruction] = []
    for ins in reversed(instrs):
        if ins.op != NOOP and ins.dest in needed:
            live.append(ins)
            needed.discard(ins.dest)
            needed.update(a for a in ins.args if isinstance(a, str))
    return live[::-1], needed


def _edit(space: InstructionSource, instrs: list[Instruction], rng: random.Random) -> list:
    """One edit of `mutate_many`: copy, swap, or a mutation drawing from `space`."""
    active = [k for k, i in enumerate(instrs) if i.op != NOOP]
    u = rng.random()
    if u < 0.25 and active:  # copy
        src = instrs[rng.choice(active)]
        if rng.random() < 0.5:
            src = Instruction(src.op, rng.choice(space.writable), src.args)
        out = list(instrs)
        out[rng.randrange(len(out))] = src
        return out
    if u < 0.5 and len(instrs) > 1:  # swap
        i, j = rng.sample(range(len(instrs)), 2)
        out = list(instrs)
        out[i], out[j] = out[j], out[i]
        return out
    return mutate_instructions(space, instrs, rng)[0]
