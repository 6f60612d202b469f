"""Dead optimizer state in the search's own random programs, and distinct hashes before vs after.

A state (`m`, `v`) is dead when the update never reads it, directly or through the next value of
a live state (`Program.live_state`); training never reads it either. Before v4 the functional hash
digested a dead state's output anyway, so programs training identically hashed apart. For each
generator of `benchmarks/optimizer_discovery.py` (its initial population, `random_short` with
1..`--init-active` instructions in `--max-statements` slots; `random`, every slot drawn; and
children, `mutate_many` applied `--generations` times to an initial program) this counts programs
with a dead state, with a dead state that is computed (its output is not the input passed
through, so the fix changes its hash), and distinct hashes before (every statement, the raw
`(update, m, v)`, hashed through the same batched path) and after (`functional_hashes` of the
slot programs, checked equal to those of their `Program`s).
Usage: `.venv/bin/python benchmarks/dead_state.py [--n 2000] [--quick] [--json PATH]`.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.cli import parser, write_json  # noqa: E402

from hashtune.hashing import functional_hashes  # noqa: E402
from hashtune.spaces.base import BATCHED_META_KEY, Executable  # noqa: E402
from hashtune.spaces.optimizers.batched import program_arrays, run_program_arrays  # noqa: E402
from hashtune.spaces.optimizers.program import INPUT_SPECS, INPUTS, Program  # noqa: E402
from hashtune.spaces.optimizers.slots import SlotProgram  # noqa: E402
from hashtune.spaces.optimizers.space import optimizer_program_space  # noqa: E402


def raw_executable(p: Program) -> Executable:
    """The program as hashed before the fix: all statements, the raw `(update, m, v)`."""
    data = program_arrays(p.statements, p.outputs, INPUTS)
    return Executable(
        fn=lambda *_: None,  # never called: the batched form is always taken
        inputs=INPUT_SPECS,
        static_key=None,
        meta={"kind": "optimizer_program", BATCHED_META_KEY: (run_program_arrays, data)},
    )


def generate(kind: str, n: int, a: Any, rng: random.Random) -> list[SlotProgram]:
    """`n` programs of one of the search's generators."""
    space = optimizer_program_space(max_statements=a.max_statements)

    def init() -> SlotProgram:
        return SlotProgram.random_short(space, rng, rng.randint(1, a.init_active))

    if kind == "init":
        return [init() for _ in range(n)]
    if kind == "random":
        return [SlotProgram.random(space, rng) for _ in range(n)]
    out = []
    for _ in range(n):
        p = init()
        for _ in range(a.generations):
            p = p.mutate_many(rng)
        out.append(p)
    return out


def measure(slots: list[SlotProgram]) -> dict[str, Any]:
    """Dead-state counts and distinct hashes before/after of `slots`."""
    t0 = time.perf_counter()
    programs = [s.program() for s in slots]
    live = [p.live_state() for p in programs]
    computed = [p.live_outputs() != list(p.outputs) for p in programs]
    before = functional_hashes([raw_executable(p) for p in programs])
    after = functional_hashes(slots)
    after_programs = functional_hashes(programs)
    return {
        "n": len(slots),
        "m_dead": sum("m" not in x for x in live),
        "v_dead": sum("v" not in x for x in live),
        "any_dead": sum(len(x) < 2 for x in live),
        "dead_computed": sum(computed),
        "distinct_before": len(set(before)),
        "distinct_after": len(set(after)),
        "hash_changed": sum(b != c for b, c in zip(before, after, strict=True)),
        "slot_equals_program": after == after_programs,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    ap = parser(__doc__, "dead_state")
    ap.add_argument("--n", type=int, default=2000, help="programs per generator")
    ap.add_argument("--max-statements", type=int, default=12, help="as optimizer_discovery")
    ap.add_argument("--init-active", type=int, default=3, help="as optimizer_discovery")
    ap.add_argument("--generations", type=int, default=4, help="mutate_many rounds of children")
    a = ap.parse_args()
    n = 60 if a.quick else a.n
    rows = {}
    for kind in ("init", "random", "children"):
        rows[kind] = measure(generate(kind, n, a, random.Random(f"{a.seed}:{kind}")))
    cols = ("n", "m_dead", "v_dead", "any_dead", "dead_computed", "hash_changed", "distinct_before")
    cols += ("distinct_after", "slot_equals_program", "seconds")
    print(f"{'generator':<10} " + " ".join(f"{c:>{len(c)}}" for c in cols))
    for kind, r in rows.items():
        print(f"{kind:<10} " + " ".join(f"{r[c]!s:>{len(c)}}" for c in cols))
    record = {"quick": a.quick, "seed": a.seed, "args": vars(a) | {"json": str(a.json)}}
    write_json(record | {"generators": rows}, a.json, indent=2)


if __name__ == "__main__":
    main()
