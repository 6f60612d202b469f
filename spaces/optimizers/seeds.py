"""Hand-written seed programs: SGD, heavy-ball momentum, Adam and Lion, as program source.

Each mirrors optax exactly (tests check it to 1e-6 in float64):

- `SGD` = `optax.sgd(lr)`.
- `MOMENTUM` = `optax.sgd(lr, momentum=0.9)`: trace = g + 0.9 * trace; update = lr * trace.
- `ADAM` = `optax.adam(lr)` (b1=0.9, b2=0.999, eps=1e-8) with bias correction, which needs the step
  number: it declares the optional 6th input `t` (step >= 1) and uses `pow`.
- `LION` = `optax.lion(lr, weight_decay=0.0)` (b1=0.9, b2=0.99). `interp(g, m, b)` is
  `g * (1 - b) + m * b`, optax's `update_moment(g, m, decay=b)`.
- `LION_WD` = the paper's Lion with decoupled weight decay 0.001 = `optax.lion(lr)` defaults.
"""

from __future__ import annotations

from hashtune.spaces.optimizers.program import Program

SGD = """\
def update(w, g, m, v, lr):
    update = g * lr
    return update, m, v
"""

MOMENTUM = """\
def update(w, g, m, v, lr):
    m = m * 0.9
    m = m + g
    update = m * lr
    return update, m, v
"""

ADAM = """\
def update(w, g, m, v, lr, t):
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    m_hat = m / (1.0 - pow(0.9, t))
    v_hat = v / (1.0 - pow(0.999, t))
    update = lr * m_hat / (sqrt(v_hat) + 1e-08)
    return update, m, v
"""

LION = """\
def update(w, g, m, v, lr):
    c = interp(g, m, 0.9)
    update = sign(c) * lr
    m = interp(g, m, 0.99)
    return update, m, v
"""

LION_WD = """\
def update(w, g, m, v, lr):
    c = interp(g, m, 0.9)
    update = (sign(c) + w * 0.001) * lr
    m = interp(g, m, 0.99)
    return update, m, v
"""

#: Seed name -> source, in the order seeds are listed.
SEED_SOURCES: dict[str, str] = {
    "sgd": SGD,
    "momentum": MOMENTUM,
    "adam": ADAM,
    "lion": LION,
    "lion_wd": LION_WD,
}


def seed_programs() -> dict[str, Program]:
    """Seed name -> parsed Program (sgd, momentum, adam, lion, lion_wd)."""
    return {name: Program.from_source(src) for name, src in SEED_SOURCES.items()}
