"""A PyGlove search space over optimizer programs, with program-aware mutations.

The space is a register machine (as in AutoML-Zero / Lion's search): `max_statements` slots, each
a flat group of `pg.oneof` genes: the op (`noop` or an op), the destination register among the
writable ones (`update`, `m`, `v`, scratch `s0..`) and, per operand, a register among the readable
ones (`w, g, m, v, lr, t, update, s0..`) or 'const' plus a constant from the grid. Every DNA
materialises into a valid `Program`: registers always hold a value (`update` and scratch start
at 0.0, `m`/`v` start as the inputs) and the outputs are the final contents of `update`, `m`, `v`.
Mutations act on the slot list and re-encode, so they stay valid too. (Flat genes rather than
nested conditional `oneof`s: PyGlove's spec/DNA handling is ~40x slower on the nested form.)
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pyglove as pg

from hashtune.spaces.base import Space
from hashtune.spaces.optimizers.instruction import (
    NOOP,
    NOOP_INSTRUCTION,
    Instruction,
)
from hashtune.spaces.optimizers.mutations import mutate_instructions
from hashtune.spaces.optimizers.ops import OP_NAMES, OPS
from hashtune.spaces.optimizers.program import INPUTS, Program, Statement
from hashtune.spaces.optimizers.regalloc import allocate_registers
from hashtune.spaces.optimizers.seeds import SEED_SOURCES

#: Default constant grid (1e-8 is there so Adam's epsilon is representable).
DEFAULT_CONSTANTS: tuple[float, ...] = (
    1e-8,
    1e-4,
    1e-3,
    0.01,
    0.1,
    0.5,
    0.9,
    0.99,
    0.999,
    1.0,
    2.0,
)
MAX_ARITY = max(op.arity for op in OPS.values())
_CONST = "const"


class OptimizerProgramSpace(Space):
    """Register-machine programs of at most `max_statements` ops; candidates are `Program`s.

    Each slot has the decision points `op` (noop + ops), `dest` (writable registers) and, for
    each of the `MAX_ARITY` operand positions, `a{j}` (readable registers or 'const') and `c{j}`
    (the constant grid). Genes an op does not use are neutral.
    """

    name = "optimizer_programs"

    def __init__(
        self,
        max_statements: int = 8,
        constants: Sequence[float] = DEFAULT_CONSTANTS,
        ops: Sequence[str] = OP_NAMES,
        scratch_registers: int = 3,
    ):
        if not isinstance(max_statements, int) or max_statements < 1:
            raise ValueError(f"`max_statements` must be an int >= 1, got {max_statements!r}")
        if not isinstance(scratch_registers, int) or scratch_registers < 0:
            raise ValueError(f"`scratch_registers` must be an int >= 0, got {scratch_registers!r}")
        consts = tuple(float(c) for c in constants)
        if not consts or len(set(consts)) != len(consts) or not all(map(math.isfinite, consts)):
            raise ValueError(f"`constants` must be distinct finite floats, got {constants!r}")
        bad = [o for o in ops if o not in OPS]
        if not ops or bad or len(set(ops)) != len(ops):
            raise ValueError(f"`ops` must be distinct names from {OP_NAMES}, got {ops!r}")
        self.max_statements = max_statements
        self.constants = consts
        self.ops = tuple(ops)
        scratch = tuple(f"s{i}" for i in range(scratch_registers))
        self.writable: tuple[str, ...] = ("update", "m", "v", *scratch)
        self.readable: tuple[str, ...] = (*INPUTS, "update", *scratch)
        self._op_choices = (NOOP, *self.ops)
        self._arg_choices = (*self.readable, _CONST)
        super().__init__(pg.List([self._slot() for _ in range(max_statements)]))

    def _slot(self) -> pg.Dict:
        genes = {"op": pg.oneof(list(self._op_choices)), "dest": pg.oneof(list(self.writable))}
        for j in range(MAX_ARITY):
            genes[f"a{j}"] = pg.oneof(list(self._arg_choices))
            genes[f"c{j}"] = pg.oneof(list(self.constants))
        return pg.Dict(genes)

    # ---- DNA <-> instructions <-> Program --------------------------------------------------

    @property
    def genes_per_slot(self) -> int:
        """Decision points per slot: op, dest, and (register, constant) per operand."""
        return 2 + 2 * MAX_ARITY

    def instructions(self, dna: pg.DNA) -> list[Instruction]:
        """The slot list `dna` selects (noops included)."""
        dna.use_spec(self.dna_spec)
        nums = dna.to_numbers()
        k = self.genes_per_slot
        out = []
        for s in range(self.max_statements):
            genes = nums[s * k : (s + 1) * k]
            op = self._op_choices[genes[0]]
            if op == NOOP:
                out.append(NOOP_INSTRUCTION)
                continue
            args = []
            for j in range(OPS[op].arity):
                a = self._arg_choices[genes[2 + 2 * j]]
                args.append(self.constants[genes[3 + 2 * j]] if a == _CONST else a)
            out.append(Instruction(op, self.writable[genes[1]], tuple(args)))
        return out

    def encode(self, instrs: Sequence[Instruction]) -> pg.DNA:
        """The DNA selecting slot list `instrs` (padded with noops; unused genes are 0)."""
        if len(instrs) > self.max_statements:
            raise ValueError(f"`instrs` has {len(instrs)} slots, the space {self.max_statements}")
        nums: list[int] = []
        for ins in list(instrs) + [NOOP_INSTRUCTION] * (self.max_statements - len(instrs)):
            genes = [0] * self.genes_per_slot
            if ins.op != NOOP:
                if ins.op not in self.ops or ins.dest not in self.writable:
                    raise ValueError(f"instruction {ins!r} is not in this space")
                if len(ins.args) != OPS[ins.op].arity:
                    raise ValueError(f"instruction {ins!r} has the wrong number of operands")
                genes[0] = self._op_choices.index(ins.op)
                genes[1] = self.writable.index(ins.dest)
                for j, a in enumerate(ins.args):
                    if isinstance(a, str):
                        genes[2 + 2 * j] = self.readable.index(a)
                    else:
                        genes[2 + 2 * j] = len(self.readable)
                        genes[3 + 2 * j] = self._const_index(a)
            nums.extend(genes)
        return self._dna(nums)

    def _dna(self, nums: Sequence[int]) -> pg.DNA:
        """A DNA from flat gene values, validated against the spec (built without type checks,
        which would otherwise dominate the cost of a mutation)."""
        with pg.symbolic.enable_type_check(False):
            dna = pg.DNA(None, [pg.DNA(int(x)) for x in nums])
        dna.use_spec(self.dna_spec)
        return dna

    def _const_index(self, c: float) -> int:
        for i, k in enumerate(self.constants):
            if math.isclose(k, c, rel_tol=1e-12, abs_tol=0.0):
                return i
        raise ValueError(f"constant {c!r} is not in the space's grid {self.constants}")

    def program_of(self, instrs: Sequence[Instruction]) -> Program:
        """Run the register machine symbolically: the SSA Program that `instrs` computes."""
        env: dict[str, str | float] = {r: 0.0 for r in self.readable}
        env.update({r: r for r in INPUTS})
        used = set(INPUTS)
        stmts: list[Statement] = []
        for ins in instrs:
            if ins.op == NOOP:
                continue
            args = [env[a] if isinstance(a, str) else float(a) for a in ins.args]
            target, k = ins.dest, 0
            while target in used:
                k += 1
                target = f"{ins.dest}_{k}"
            used.add(target)
            stmts.append(Statement(target=target, op=ins.op, args=args))
            env[ins.dest] = target
        uses_step = any("t" in s.args for s in stmts)
        outputs = [env["update"], env["m"], env["v"]]
        return Program(statements=stmts, outputs=outputs, uses_step=uses_step)

    def materialize(self, dna: pg.DNA) -> Program:
        """The Program `dna` selects."""
        return self.program_of(self.instructions(dna))

    def random_dna(self, rng: random.Random) -> pg.DNA:
        """A uniformly random DNA (every decision point uniform), drawn fast with `rng`."""
        nums = []
        for _ in range(self.max_statements):
            nums += [rng.randrange(len(self._op_choices)), rng.randrange(len(self.writable))]
            for _ in range(MAX_ARITY):
                nums += [rng.randrange(len(self._arg_choices)), rng.randrange(len(self.constants))]
        return self._dna(nums)

    def candidate_from_text(self, text: str) -> Program:
        """A program from a seed name (`adam`, `lion`, ...) or from its source code."""
        source = SEED_SOURCES.get(text.strip().lower(), text)
        return Program.from_source(source)

    def dna_of(self, program: Program) -> pg.DNA:
        """A DNA materialising to `program` (same statements in order, up to register names).

        Raises ValueError naming why when it does not fit: too many statements, an op or constant
        outside the space, too few scratch registers, or outputs the register machine cannot hold.
        """
        n = len(program.statements)
        if n > self.max_statements:
            raise ValueError(
                f"program has {n} statements but the space has {self.max_statements} slots"
            )
        for s in program.statements:
            if s.op not in self.ops:
                raise ValueError(f"op {s.op!r} of statement {s.target!r} is not in the space")
            for a in s.args:
                if not isinstance(a, str):
                    self._const_index(a)
        return self.encode(allocate_registers(program, self.writable[3:]))

    # ---- mutations -------------------------------------------------------------------------

    def random_instruction(self, rng: random.Random) -> Instruction:
        """A random non-noop instruction (operands uniform over registers + 'const')."""
        op = rng.choice(self.ops)
        args = tuple(self.random_arg(rng) for _ in range(OPS[op].arity))
        return Instruction(op, rng.choice(self.writable), args)

    def random_arg(self, rng: random.Random, other_than: object = None) -> str | float:
        """A random operand (a register, or with prob. 1/(#registers+1) a grid constant)."""
        while True:
            a = rng.choice(self._arg_choices)
            a = rng.choice(self.constants) if a == _CONST else a
            if a != other_than:
                return a

    def mutate(self, dna: pg.DNA, rng: random.Random) -> tuple[pg.DNA, str]:
        """Insert / delete / modify_op / modify_arg / modify_const one statement; always valid."""
        child, kind = mutate_instructions(self, self.instructions(dna), rng)
        return self.encode(child), kind


def optimizer_program_space(
    max_statements: int = 8,
    constants: Sequence[float] = DEFAULT_CONSTANTS,
    ops: Sequence[str] = OP_NAMES,
    scratch_registers: int = 3,
) -> OptimizerProgramSpace:
    """The optimizer-program search space (see module docstring)."""
    return OptimizerProgramSpace(max_statements, constants, ops, scratch_registers)
