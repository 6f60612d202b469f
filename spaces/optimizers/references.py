"""Reference optimizers written as programs: the rows every optimizer-discovery report compares to.

`adam`, `lion`, `momentum` and `sgd` are the seeds (optax-exact, see `seeds`); `adamw` adds
optax's decoupled weight decay (1e-4, scaled by lr); `rmsprop` is optax's rmsprop (decay 0.9,
eps 1e-8 added to the root: `g / (sqrt(v) + eps)`). `ignores_lr` is the program
today's proxy rewarded, `update = interp(lr**2, 0.9, g)` (about 0.9 * g whatever lr is): a suite
that discriminates must score it poorly. `EXPRESSIBLE_SOURCES`: Adam-level programs that fit a
12-slot search space (Adam's bias correction takes 13 statements): the targets a search from
random programs can reach, reported next to the references (never used to start a search).
"""

from __future__ import annotations

from hashtune.spaces.optimizers.program import Program
from hashtune.spaces.optimizers.seeds import ADAM, LION, MOMENTUM, SGD

ADAMW = """\
def update(w, g, m, v, lr, t):
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    m_hat = m / (1.0 - pow(0.9, t))
    v_hat = v / (1.0 - pow(0.999, t))
    update = lr * (m_hat / (sqrt(v_hat) + 1e-08) + 0.0001 * w)
    return update, m, v
"""

RMSPROP = """\
def update(w, g, m, v, lr):
    v = interp(square(g), v, 0.9)
    update = lr * g / (sqrt(v) + 1e-08)
    return update, m, v
"""

IGNORES_LR = """\
def update(w, g, m, v, lr):
    update = interp(lr * lr, 0.9, g)
    return update, m, v
"""

ADAM_NO_BIAS_CORRECTION = """\
def update(w, g, m, v, lr):
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    update = lr * m / (sqrt(v) + 1e-08)
    return update, m, v
"""

#: Adam-level programs within 12 statements (7 here), see the module docstring.
EXPRESSIBLE_SOURCES: dict[str, str] = {"adam_nobc": ADAM_NO_BIAS_CORRECTION}

#: Name -> source of the reference rows, in report order.
REFERENCE_SOURCES: dict[str, str] = {
    "adam": ADAM,
    "adamw": ADAMW,
    "lion": LION,
    "rmsprop": RMSPROP,
    "momentum": MOMENTUM,
    "sgd": SGD,
    "ignores_lr": IGNORES_LR,
}


def reference_programs() -> dict[str, Program]:
    """Name -> parsed reference Program (see `REFERENCE_SOURCES`)."""
    return {name: Program.from_source(src) for name, src in REFERENCE_SOURCES.items()}


def expressible_programs() -> dict[str, Program]:
    """Name -> parsed Program of `EXPRESSIBLE_SOURCES`."""
    return {name: Program.from_source(src) for name, src in EXPRESSIBLE_SOURCES.items()}
