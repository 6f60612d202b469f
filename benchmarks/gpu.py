"""Candidates per hour and hashes per second, batched vs one at a time, on this machine's device.

Measures, on random optimizer programs (every one new): today's path (`optimizer_proxy`, each
program compiled by XLA and trained alone); the one-at-a-time path on the real proxy suite
(fidelity 0: 4 tasks, 100 steps, 5 learning rates); the batched trainer on the same suite at
population buckets (compile time reported apart; the steady rate is fresh programs through the
compiled call); batched vs one-at-a-time score agreement; functional hashes per second, batched
(one call per chunk) vs eager. Writes JSON (`--out`).
Run: `python benchmarks/gpu.py [--pops 256 1024] [--single 4] [--today 4] [--axis vmap]`.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from pathlib import Path

from device_path import ensure_hashtune

ensure_hashtune()

import jax  # noqa: E402

from hashtune.evaluators.optimizer_suite import FIDELITIES, SuiteScorer  # noqa: E402
from hashtune.hashing import functional_hash, functional_hashes  # noqa: E402
from hashtune.spaces.optimizers.slots import SlotProgram  # noqa: E402
from hashtune.spaces.optimizers.space import optimizer_program_space  # noqa: E402


def random_programs(n: int, seed: int) -> list:
    """`n` random slot programs (8 slots), drawn without PyGlove (SlotProgram)."""
    space = optimizer_program_space(max_statements=8)
    rng = random.Random(seed)
    return [SlotProgram.random(space, rng) for _ in range(n)]


T0 = time.perf_counter()


def timed(fn, label: str = ""):  # noqa: ANN001, ANN201
    t0 = time.perf_counter()
    out = fn()
    s = time.perf_counter() - t0
    print(f"[{time.perf_counter() - T0:7.1f}s] {label}: {s:.2f}s", flush=True)
    return out, s


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pops", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--single", type=int, default=4)
    p.add_argument("--today", type=int, default=4)
    p.add_argument("--hash", type=int, default=4096)
    p.add_argument("--axis", default="auto", help="population axis: auto, vmap, map")
    p.add_argument("--skip-today", action="store_true")
    p.add_argument("--today-rate", type=float, default=0.7, help="programs/s when skipped")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu.json"))
    a = p.parse_args()
    dev = jax.devices()[0]
    rec: dict = {
        "device": f"{dev.platform}:{getattr(dev, 'device_kind', '')}",
        "host": platform.node(),
        "cpus": __import__("os").cpu_count(),
        "jax": jax.__version__,
        "suite": FIDELITIES[0].config(),
        "axis": a.axis,
    }
    rows = []
    if a.skip_today:
        rows.append(("today (not run here)", 0, 1.0, a.today_rate))
    # today's path: optimizer_proxy, one program at a time, compiled per program
    from hashtune.evaluators.optimizer_proxy import OptimizerProxyEvaluator

    if not a.skip_today:
        today = OptimizerProxyEvaluator()
        progs = random_programs(a.today + 1, seed=1)
        timed(lambda: today.evaluate(progs[0].program()), "today: setup + first")
        _, s = timed(lambda: [today.evaluate(q.program()) for q in progs[1:]], "today")
        rows.append(("today: optimizer_proxy, one at a time", a.today, s, a.today / s))
    # one at a time on the real suite
    single = SuiteScorer(FIDELITIES[0], batched=False)
    timed(lambda: single.reference, "single: reference (adam)")
    progs = random_programs(a.single, seed=2)
    single_res, s = timed(lambda: [single.score([q.program()])[0] for q in progs], "single")
    rows.append(("suite f0, one at a time (compiled each)", a.single, s, a.single / s))
    batched = SuiteScorer(FIDELITIES[0], population_axis=a.axis)
    _, compile_1 = timed(lambda: batched.reference, "batched: compile bucket 1")
    b_res = batched.score(progs)
    diffs = [abs(x["score"] - y["score"]) for x, y in zip(b_res, single_res, strict=True)]
    rec["batched_vs_single_max_abs_score_diff"] = max(diffs)
    rec["compile_s"] = {"1": compile_1}
    for n in a.pops:
        warm = random_programs(n, seed=10 + n)
        _, c = timed(lambda w=warm: batched.score(w), f"batched {n}: compile + first")
        rec["compile_s"][str(n)] = c
        fresh = random_programs(n, seed=20 + n)
        _, s = timed(lambda f=fresh: batched.score(f), f"batched {n}: fresh")
        rows.append((f"suite f0, batched population {n}", n, s, n / s))
    # functional hash
    hp = random_programs(a.hash, seed=3)
    _, c = timed(lambda: functional_hashes(hp[:512]), "hash: compile")
    _, s = timed(lambda: functional_hashes(hp), "hash batched")
    hash_rows = [("hash batched", a.hash, s, a.hash / s)]
    _, s = timed(lambda: [functional_hash(q.program()) for q in hp[:20]], "hash eager")
    hash_rows.append(("hash one at a time", 20, s, 20 / s))
    base = rows[0][3]
    print(f"device {rec['device']}  ({rec['cpus']} cpus, jax {rec['jax']}, axis {a.axis})")
    print(
        f"{'path':<44} | {'programs':>8} | {'seconds':>8} | {'per s':>9} | {'per hour':>11} | x today"
    )
    for name, n, s, r in rows:
        print(f"{name:<44} | {n:>8} | {s:>8.2f} | {r:>9.2f} | {r * 3600:>11.0f} | {r / base:>7.1f}")
    for name, n, s, r in hash_rows:
        print(f"{name:<44} | {n:>8} | {s:>8.2f} | {r:>9.1f} |")
    print(f"compile seconds per bucket: {rec['compile_s']}")
    print(f"batched vs one-at-a-time |score diff| max: {max(diffs):.2e}")
    rec["rows"] = [
        dict(zip(("path", "programs", "seconds", "per_s"), r, strict=True)) for r in rows
    ]
    rec["hash_rows"] = [
        dict(zip(("path", "programs", "seconds", "per_s"), r, strict=True)) for r in hash_rows
    ]
    rec["speedup_vs_today"] = {r[0]: r[3] / base for r in rows}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(rec, indent=2, default=float))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
