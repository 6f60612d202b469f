"""Candidates per hour and hashes per second, batched vs one at a time, on this machine's device.

Measures, on random optimizer programs (every one new): today's path (`optimizer_proxy`, each
program compiled by XLA and trained alone); the one-at-a-time path on the real proxy suite
(fidelity 0: 4 tasks, 100 steps, 5 learning rates); the batched trainer on the same suite at
population buckets (compile time reported apart; the steady rate is fresh programs through the
compiled call); batched vs one-at-a-time score agreement; functional hashes per second, batched
(one call per chunk) vs eager. `--rounds R` then alternates today's path and the batched path R
times on fresh programs and reports each round's ratio (median and minimum), so a busy machine's
load changes hit both sides alike (load averages recorded), in wall time and in this process's
CPU time (all threads; the other processes' load does not change it). Writes JSON (`--json`).
Run: `python benchmarks/gpu.py [--pops 256 1024] [--single 4] [--today 4] [--rounds 3]`;
`--quick`: tiny CPU suite and sizes (seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from pathlib import Path

from device_path import ensure_hashtune

ensure_hashtune()

import jax  # noqa: E402

from hashtune.evaluators.optimizer_suite import (  # noqa: E402
    FIDELITIES,
    QUICK_FIDELITIES,
    SuiteScorer,
)
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


def interleaved(today, batched, a: argparse.Namespace) -> list[dict]:  # noqa: ANN001
    """Alternate today's path and the batched path on fresh programs; one ratio per round."""
    pop = a.round_pop or min(a.pops)
    out = []
    for r in range(a.rounds):
        progs = random_programs(a.today, seed=1000 + r)
        t0, c0 = time.perf_counter(), time.process_time()
        for q in progs:
            today.evaluate(q.program())
        t_today, c_today = time.perf_counter() - t0, time.process_time() - c0
        fresh = random_programs(pop, seed=2000 + r)
        t0, c0 = time.perf_counter(), time.process_time()
        batched.score(fresh)
        t_b, c_b = time.perf_counter() - t0, time.process_time() - c0
        rate_t, rate_b = a.today / t_today, pop / t_b
        out.append(
            {
                "round": r,
                "today_per_s": rate_t,
                "batched_per_s": rate_b,
                "pop": pop,
                "ratio": rate_b / rate_t,
                # CPU seconds per program (this process's, all threads): what a loaded machine's
                # other work does not change
                "today_cpu_s_per_program": c_today / a.today,
                "batched_cpu_s_per_program": c_b / pop,
                "cpu_ratio": (c_today / a.today) / (c_b / pop),
                "load": os.getloadavg(),
            }
        )
        print(f"[round {r}] today {rate_t:.3f}/s batched {rate_b:.2f}/s", flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pops", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--single", type=int, default=4)
    p.add_argument("--today", type=int, default=4)
    p.add_argument("--hash", type=int, default=4096)
    p.add_argument("--axis", default="auto", help="population axis: auto, vmap, map")
    p.add_argument("--skip-today", action="store_true")
    p.add_argument("--today-rate", type=float, default=0.7, help="programs/s when skipped")
    p.add_argument("--instr-pad", type=int, default=16, help="8: the 8-slot programs' own size")
    p.add_argument("--rounds", type=int, default=0, help="interleaved today/batched rounds")
    p.add_argument("--round-pop", type=int, default=0, help="batched population per round")
    p.add_argument("--quick", action="store_true", help="tiny suite and sizes (CPU, seconds)")
    p.add_argument(
        "--json", "--out", dest="out", type=Path, default=Path("benchmarks/results/gpu.json")
    )
    a = p.parse_args()
    fid = QUICK_FIDELITIES[0] if a.quick else FIDELITIES[0]
    if a.quick:
        a.pops, a.single, a.today, a.hash = [8], 1, 1, 256
        a.rounds = min(a.rounds, 1)
    dev = jax.devices()[0]
    rec: dict = {
        "device": f"{dev.platform}:{getattr(dev, 'device_kind', '')}",
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "jax": jax.__version__,
        "suite": fid.config(),
        "load_start": os.getloadavg(),
        "axis": a.axis,
        "instr_pad": a.instr_pad,
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
    single = SuiteScorer(fid, batched=False)
    timed(lambda: single.reference, "single: reference (adam)")
    progs = random_programs(a.single, seed=2)
    single_res, s = timed(lambda: [single.score([q.program()])[0] for q in progs], "single")
    rows.append(("suite f0, one at a time (compiled each)", a.single, s, a.single / s))
    batched = SuiteScorer(fid, population_axis=a.axis, instr_pad=a.instr_pad)
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
    if a.rounds and not a.skip_today:
        rec["rounds"] = interleaved(today, batched, a)
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
    for r in rec.get("rounds", []):
        print(
            f"round {r['round']}: today {r['today_per_s']:.3f}/s, batched {r['batched_per_s']:.2f}/s"
            f" (pop {r['pop']}): {r['ratio']:.1f}x wall, {r['cpu_ratio']:.1f}x CPU time"
            f"  load {r['load'][0]:.1f}"
        )
    if rec.get("rounds"):
        ratios = sorted(r["ratio"] for r in rec["rounds"])
        rec["round_ratio_median"] = ratios[len(ratios) // 2]
        rec["round_ratio_min"] = ratios[0]
        print(f"interleaved ratio: median {ratios[len(ratios) // 2]:.1f}x, min {ratios[0]:.1f}x")
        cpu = sorted(r["cpu_ratio"] for r in rec["rounds"])
        rec["round_cpu_ratio_median"], rec["round_cpu_ratio_min"] = cpu[len(cpu) // 2], cpu[0]
        print(f"CPU-time ratio: median {cpu[len(cpu) // 2]:.1f}x, min {cpu[0]:.1f}x")
    rec["load_end"] = os.getloadavg()
    print(f"load average start {rec['load_start']}, end {rec['load_end']}")
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
