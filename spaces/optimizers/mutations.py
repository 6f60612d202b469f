"""Program-aware mutations on the slot list of `OptimizerProgramSpace` (each result is valid).

insert: a random instruction enters at a random position (a noop slot makes room);
delete: an instruction becomes a noop; modify_op: an instruction gets another op (operands kept
where the arity allows); modify_arg: one operand or the destination changes; modify_const: one
constant operand moves to another grid value.
"""

from __future__ import annotations

import random

from hashtune.spaces.optimizers.instruction import (
    INSTRUCTION_WEIGHTS,
    NOOP,
    NOOP_INSTRUCTION,
    Instruction,
    InstructionSource,
)
from hashtune.spaces.optimizers.ops import OPS


def _possible(instrs: list[Instruction]) -> list[str]:

    active = [i for i in instrs if i.op != NOOP]
    kinds = []
    if len(active) < len(instrs):
        kinds.append("insert")
    if active:
        kinds += ["delete", "modify_op", "modify_arg"]
    if any(not isinstance(a, str) for i in active for a in i.args):
        kinds.append("modify_const")
    return kinds


def mutate_instructions(
    space: InstructionSource, instrs: list[Instruction], rng: random.Random
) -> tuple[list[Instruction], str]:
    """A mutated copy of `instrs` and the mutation's name (one of space.MUTATIONS)."""
    kinds = _possible(instrs)
    if len(space.ops) == 1:
        kinds = [k for k in kinds if k != "modify_op"]
    kind = rng.choices(kinds, weights=[INSTRUCTION_WEIGHTS[k] for k in kinds])[0]
    out = list(instrs)
    active = [k for k, i in enumerate(out) if i.op != NOOP]
    if kind == "insert":
        noops = [k for k, i in enumerate(out) if i.op == NOOP]
        out.pop(rng.choice(noops))
        out.insert(rng.randrange(len(out) + 1), space.random_instruction(rng))
    elif kind == "delete":
        out[rng.choice(active)] = NOOP_INSTRUCTION
    elif kind == "modify_op":
        k = rng.choice(active)
        old = out[k]
        op = rng.choice([o for o in space.ops if o != old.op])
        args = list(old.args[: OPS[op].arity])
        args += [space.random_arg(rng) for _ in range(OPS[op].arity - len(args))]
        out[k] = Instruction(op, old.dest, tuple(args))
    elif kind == "modify_arg":
        k = rng.choice(active)
        old = out[k]
        pos = rng.randrange(len(old.args) + 1)  # len(args): the destination
        if pos == len(old.args):
            dest = rng.choice([r for r in space.writable if r != old.dest])
            out[k] = Instruction(old.op, dest, old.args)
        else:
            args = list(old.args)
            args[pos] = space.random_arg(rng, other_than=args[pos])
            out[k] = Instruction(old.op, old.dest, tuple(args))
    else:  # modify_const
        sites = [
            (k, j) for k in active for j, a in enumerate(out[k].args) if not isinstance(a, str)
        ]
        k, j = rng.choice(sites)
        args = list(out[k].args)
        args[j] = rng.choice([c for c in space.constants if c != args[j]])
        out[k] = Instruction(out[k].op, out[k].dest, tuple(args))
    return out, kind
