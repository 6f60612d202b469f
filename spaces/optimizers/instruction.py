"""Register-machine instructions of the optimizer program space, and the mutations' vocabulary.

Its own module so that mutation and register allocation need only instructions, not the space.
"""

from __future__ import annotations

import random
from typing import NamedTuple, Protocol

NOOP = "noop"
MUTATIONS: tuple[str, ...] = ("insert", "delete", "modify_op", "modify_arg", "modify_const")
#: How often each kind of mutation is drawn (the weights `mutations.mutate` uses).
INSTRUCTION_WEIGHTS = {
    "insert": 0.2,
    "delete": 0.2,
    "modify_op": 0.2,
    "modify_arg": 0.25,
    "modify_const": 0.15,
}


class Instruction(NamedTuple):
    """One slot of the register machine: `dest = op(*args)`; op 'noop' does nothing."""

    op: str
    dest: str = "update"
    args: tuple[str | float, ...] = ()


NOOP_INSTRUCTION = Instruction(NOOP)


class InstructionSource(Protocol):
    """What mutation needs from a space: its ops, registers, constants and random draws."""

    ops: tuple[str, ...]
    writable: tuple[str, ...]
    constants: tuple[float, ...]

    def random_instruction(self, rng: random.Random) -> Instruction: ...

    def random_arg(self, rng: random.Random, other_than: object = None) -> str | float: ...
