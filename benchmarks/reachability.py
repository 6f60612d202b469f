"""Reachability of Adam-level programs by the search's mutation: the old operator vs the new one.

For each start program (the references `rmsprop`, `momentum`, `sgd`; programs one edit away from
`adam_nobc`: `rms999` = RMSProp with Adam's 0.999 decay, one EMA-plus-rewire away; `nobc_g` =
`adam_nobc` whose update reads `g` (its `m` dead), one rewire away; `nobc_b09` = `adam_nobc`
with v's decay 0.9, one decay move away; and `--random` short random programs) this draws `--n`
children with `SlotProgram.mutate_many` (old: the default edits; new: `structured=True`, see
`spaces/optimizers/edits.py`), seeded alike, and counts children computing the same function as
each target (`adam_nobc`, `rmsprop`, `momentum`; the project's functional hash, one batched call
over the distinct live codes), the fraction of children that are distinct functions new to the
start (not the parent's, not each other), and the fraction that are degenerate: on a 4-step
rollout from `m = v = 0` (g ~ N(0, 1), lr 1e-3, float32) some output is non-finite, or the update
is exactly zero throughout. Usage:
`.venv/bin/python benchmarks/reachability.py [--n 20000] [--random 3] [--quick] [--json PATH]`.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from harness.cli import parser, write_json  # noqa: E402

from hashtune.hashing import functional_hashes  # noqa: E402
from hashtune.spaces.optimizers.batched import run_program_arrays  # noqa: E402
from hashtune.spaces.optimizers.instruction import NOOP_INSTRUCTION, Instruction  # noqa: E402
from hashtune.spaces.optimizers.references import (  # noqa: E402
    expressible_programs,
    reference_programs,
)
from hashtune.spaces.optimizers.regalloc import allocate_registers  # noqa: E402
from hashtune.spaces.optimizers.slots import SlotProgram  # noqa: E402
from hashtune.spaces.optimizers.space import optimizer_program_space  # noqa: E402

TARGETS = ("adam_nobc", "rmsprop", "momentum")
OPERATORS = ("old", "new")


def starts(space: Any, n_random: int, seed: int) -> dict[str, SlotProgram]:
    """Name -> start program (see the module docstring), padded to the space's slots."""
    refs = {**reference_programs(), **expressible_programs()}

    def slots(instrs: list[Instruction]) -> SlotProgram:
        return SlotProgram(
            space, instrs + [NOOP_INSTRUCTION] * (space.max_statements - len(instrs))
        )

    def alloc(name: str) -> list[Instruction]:
        return allocate_registers(refs[name], space.writable[3:])

    def const(instrs: list[Instruction], old: float, new: float) -> list[Instruction]:
        return [
            Instruction(i.op, i.dest, tuple(new if a == old else a for a in i.args)) for i in instrs
        ]

    nobc = alloc("adam_nobc")  # m = interp(g, m, .9); s0 = g^2; v = interp(s0, v, .999); s0 = lr*m
    out = {n: slots(alloc(n)) for n in ("rmsprop", "momentum", "sgd")}
    out["rms999"] = slots(const(alloc("rmsprop"), 0.9, 0.999))
    out["nobc_g"] = slots(nobc[:3] + [Instruction("mul", "s0", ("lr", "g"))] + nobc[4:])
    out["nobc_b09"] = slots(nobc[:2] + const(nobc[2:3], 0.999, 0.9) + nobc[3:])
    rng = random.Random(f"{seed}:random")
    for i in range(n_random):
        out[f"random{i}"] = SlotProgram.random_short(space, rng, 3)
    return out


def degenerate(progs: list[SlotProgram], steps: int = 4) -> np.ndarray:
    """Per program: a non-finite output on the rollout, or an update exactly zero throughout."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    w0 = jnp.asarray(rng.standard_normal(64), jnp.float32)
    gs = jnp.asarray(rng.standard_normal((steps, 64)), jnp.float32)

    def roll(data: Any) -> tuple[Any, Any]:
        w, m, v = w0, jnp.zeros_like(w0), jnp.zeros_like(w0)
        finite, zero = jnp.array(True), jnp.array(True)
        for t in range(steps):
            u, m, v = run_program_arrays(None, data, w, gs[t], m, v, 1e-3, float(t + 1))
            finite &= jnp.all(jnp.isfinite(u)) & jnp.all(jnp.isfinite(m)) & jnp.all(jnp.isfinite(v))
            zero &= jnp.all(u == 0.0)
            w = w - u
        return finite, zero

    call = jax.jit(jax.vmap(roll))
    out, chunk = [], 2048
    for s in range(0, len(progs), chunk):
        part = [p.arrays(16) for p in progs[s : s + chunk]]
        part += [part[-1]] * (chunk - len(part))
        stacked = type(part[0])(*(np.stack(xs) for xs in zip(*part, strict=True)))
        finite, zero = call(stacked)
        out.append((~np.asarray(finite) | np.asarray(zero))[: min(chunk, len(progs) - s)])
    return np.concatenate(out)


def children(start: SlotProgram, op: str, n: int, seed: int, name: str) -> list[SlotProgram]:
    """`n` children of `start` by operator `op` (seeded per start, the same seed for both)."""
    rng = random.Random(f"{seed}:{name}")
    return [start.mutate_many(rng, structured=op == "new") for _ in range(n)]


def main() -> None:
    ap = parser(__doc__, "reachability")
    ap.add_argument("--n", type=int, default=20000, help="children per start and operator")
    ap.add_argument("--random", type=int, default=3, help="random short start programs")
    ap.add_argument("--max-statements", type=int, default=12, help="as optimizer_discovery")
    a = ap.parse_args()
    n = 300 if a.quick else a.n
    space = optimizer_program_space(max_statements=a.max_statements)
    t0 = time.perf_counter()
    start = starts(space, 1 if a.quick else a.random, a.seed)
    refs = {**reference_programs(), **expressible_programs()}
    target_slots = [
        SlotProgram(space, allocate_registers(refs[t], space.writable[3:])) for t in TARGETS
    ]
    kids = {(s, op): children(p, op, n, a.seed, s) for s, p in start.items() for op in OPERATORS}
    t_draw = time.perf_counter() - t0
    everyone = target_slots + list(start.values()) + [c for cs in kids.values() for c in cs]
    unique = {q.live_key(): q for q in everyone}
    hashes = dict(zip(unique, functional_hashes(list(unique.values())), strict=True))
    bad = dict(zip(unique, degenerate(list(unique.values())), strict=True))
    t_hash = time.perf_counter() - t0 - t_draw
    target_h = {t: hashes[q.live_key()] for t, q in zip(TARGETS, target_slots, strict=True)}
    rows: dict[str, dict[str, Any]] = {}
    for s, p in start.items():
        parent = hashes[p.live_key()]
        rows[s] = {"parent_is": [t for t, h in target_h.items() if h == parent]}
        for op in OPERATORS:
            hs = [hashes[c.live_key()] for c in kids[s, op]]
            rows[s][op] = {
                "hits": {t: sum(h == th for h in hs) for t, th in target_h.items()},
                "new_fn": len(set(hs) - {parent}) / n,
                "same": sum(h == parent for h in hs) / n,
                "degenerate": float(np.mean([bad[c.live_key()] for c in kids[s, op]])),
                "valid": all(len(c.instrs) == space.max_statements for c in kids[s, op]),
            }
    print(f"children per start and operator: {n}; old = mutate_many, new = structured=True")
    head = "".join(f"{c:>13}" for c in (*TARGETS, "new fn %", "degen %"))
    print(f"{'start':<12}{head}")
    print(f"{'':<12}" + "".join(f"{'old':>7}{'new':>6}" for _ in range(5)))
    for s, r in rows.items():
        cells = [(r["old"]["hits"][t], r["new"]["hits"][t]) for t in TARGETS]
        line = "".join(f"{o:>7}{w:>6}" for o, w in cells)
        for k in ("new_fn", "degenerate"):
            line += f"{100 * r['old'][k]:>7.1f}{100 * r['new'][k]:>6.1f}"
        print(f"{s:<12}{line}")
    print(f"draw {t_draw:.1f}s, hash + rollout {t_hash:.1f}s ({len(unique)} distinct live codes)")
    record = {"quick": a.quick, "seed": a.seed, "n": n, "args": vars(a) | {"json": str(a.json)}}
    record |= {"starts": {s: p.program().to_source() for s, p in start.items()}, "rows": rows}
    write_json(record | {"seconds": {"draw": t_draw, "hash": t_hash}}, a.json, indent=2)


if __name__ == "__main__":
    main()
