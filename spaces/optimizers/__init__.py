"""Optimizer programs (Lion-style symbolic discovery): language, compiler, search space, seeds."""

from hashtune.spaces.optimizers.instruction import MUTATIONS, Instruction
from hashtune.spaces.optimizers.ops import OP_NAMES, OPS, Op, op_impl
from hashtune.spaces.optimizers.parser import ProgramSyntaxError
from hashtune.spaces.optimizers.program import (
    INPUTS,
    OUTPUTS,
    Program,
    ProgramState,
    Statement,
    parse_program,
)
from hashtune.spaces.optimizers.seeds import (
    ADAM,
    LION,
    LION_WD,
    MOMENTUM,
    SEED_SOURCES,
    SGD,
    seed_programs,
)
from hashtune.spaces.optimizers.space import (
    DEFAULT_CONSTANTS,
    OptimizerProgramSpace,
    optimizer_program_space,
)

__all__ = [
    "ADAM",
    "DEFAULT_CONSTANTS",
    "INPUTS",
    "LION",
    "LION_WD",
    "MOMENTUM",
    "MUTATIONS",
    "OPS",
    "OP_NAMES",
    "OUTPUTS",
    "SEED_SOURCES",
    "SGD",
    "Instruction",
    "Op",
    "OptimizerProgramSpace",
    "Program",
    "ProgramState",
    "ProgramSyntaxError",
    "Statement",
    "op_impl",
    "optimizer_program_space",
    "parse_program",
    "seed_programs",
]
