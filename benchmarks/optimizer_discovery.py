"""Optimizer discovery from random programs: batched regularized evolution + FEC + funnel.

For a fixed wall budget per search: regularized evolution (aging population, tournaments) fills
a batch of children by mutation, the functional hash of the whole batch is one call, children
whose function is already known are served from the cache (FEC), the rest go through the funnel
(fidelity 0 for all, the top fraction to fidelity 1) in batched training calls. The same search
without FEC (every child trained) runs for the same budget. Reports paid evaluations per rung,
cache hits, each search's best program (simplified and raw), and the held-out meta-test scores of
the bests against Adam, AdamW, Lion, RMSProp, SGD-momentum, SGD. Writes JSON (`--out`).
Children are drawn by `--mutation many` (1 + geometric edits: the space's insert / delete /
modify mutations plus copy and swap; `--mutation structured` adds new EMAs, rewired reads, decay
moves and program-aware operands, `spaces/optimizers/edits.py`) from an initial population of
short random programs (`--init-active`: 1..K random instructions, AutoML-Zero style; 0 = every
slot random); `--structured-weight W` scales the structured kinds' share (1: as before).
`--islands K` splits the population into K regularized-evolution islands (`search/islands.py`):
`--migrate-every M` copies each island's best to the next every M generations, `--restart-after
R` empties an island (not the leader's) that gained nothing for R generations. The bucket
shapes both searches will meet are compiled before the clock starts (setup, reported apart).
Run: `python benchmarks/optimizer_discovery.py --budget-s 240 [--batch 1024] [--json PATH]`;
`--suite scaled` (default) searches on the rungs whose tasks' losses are scaled 1e-2 .. 1e2
(`SCALED_FIDELITIES`), so a term that ignores the learning rate cannot fit them all;
`--quick`: tiny CPU suites, seconds (8 s of search unless `--budget-s` says). Each search's
finalists are the best top-rung results, one per functional hash (`Funnel.finalists`,
`distinct_functions`), ranked on the validation tasks; `adam_nobc` (Adam without bias
correction, 7 statements) is reported next to the references. The meta-test is trained
`--meta-replicates` times over (seed groups, one call): each program's mean, its paired
difference with Adam's row of the same batch, a 95% bootstrap interval and a verdict (beats /
matches / below, against the noise band of Adam in the batch vs Adam alone; `discovery_report`).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

from device_path import ensure_hashtune
from discovery_report import meta_rows, print_tables

ensure_hashtune()

import jax  # noqa: E402

from hashtune.evaluators.batched_training import BUCKETS, bucket  # noqa: E402
from hashtune.evaluators.funnel import Funnel  # noqa: E402
from hashtune.evaluators.meta_stats import ReplicateScorer  # noqa: E402
from hashtune.evaluators.optimizer_suite import (  # noqa: E402
    FIDELITIES,
    META_FIDELITY,
    QUICK_FIDELITIES,
    QUICK_META_FIDELITY,
    QUICK_VALIDATION_FIDELITY,
    SCALED_FIDELITIES,
    VALIDATION_FIDELITY,
    SuiteScorer,
)
from hashtune.hashing import functional_hashes  # noqa: E402
from hashtune.hashing.functional_hash import CHUNK  # noqa: E402
from hashtune.search.islands import Entry, Islands  # noqa: E402
from hashtune.spaces.optimizers.references import (  # noqa: E402
    expressible_programs,
    reference_programs,
)
from hashtune.spaces.optimizers.simplify import simplify  # noqa: E402
from hashtune.spaces.optimizers.slots import SlotProgram  # noqa: E402
from hashtune.spaces.optimizers.space import optimizer_program_space  # noqa: E402


def _mutate(a: argparse.Namespace) -> Any:
    """The child operator `--mutation` (and `--structured-weight`) name: (parent, rng) -> child."""
    if a.mutation == "one":
        return lambda p, rng: p.mutate(rng)
    structured = a.mutation == "structured"
    return lambda p, rng: p.mutate_many(
        rng, structured=structured, structured_weight=a.structured_weight
    )


def search(
    scorers: list[SuiteScorer], a: argparse.Namespace, fec: bool, seed: int
) -> dict[str, Any]:
    """One budgeted search; returns its record (best program, counts, curve)."""
    space = optimizer_program_space(max_statements=a.max_statements)
    rng = random.Random(seed)
    funnel = Funnel(
        scorers, promote_fraction=a.promote, min_promote=2, promote_above=a.promote_above
    )
    islands = Islands(
        a.islands, a.population // a.islands, a.tournament, a.migrate_every, a.restart_after
    )
    mutate = _mutate(a)

    def init(r: random.Random) -> SlotProgram:
        if a.init_active:
            return SlotProgram.random_short(space, r, r.randint(1, a.init_active))
        return SlotProgram.random(space, r)

    t0 = time.perf_counter()
    proposals = generations = 0
    seen: set[str] = set()
    best: tuple[float, int, Any, str] = (-1e9, -1, None, "")
    curve = []
    hash_s = train_s = 0.0
    memo: dict[tuple, str] = {}
    hashed = 0
    while time.perf_counter() - t0 < a.budget_s:
        where, progs = zip(*islands.propose(a.batch, rng, init, mutate), strict=True)
        progs = list(progs)
        proposals += len(progs)
        th = time.perf_counter()
        if fec:  # programs with the same live code share their hash: computed once, memoised
            lives = [q.live_key() for q in progs]
            new = {lk: q for lk, q in zip(lives, progs, strict=True) if lk not in memo}
            memo.update(zip(new, functional_hashes(list(new.values())), strict=True))
            hashed += len(new)
            keys = [memo[lk] for lk in lives]
        else:  # no functional cache: every proposal is its own evaluation
            keys = [f"p{proposals - len(progs) + i}" for i in range(len(progs))]
        hash_s += time.perf_counter() - th
        tt = time.perf_counter()
        fits = funnel.run(list(zip(keys, progs, strict=True)))
        train_s += time.perf_counter() - tt
        islands.tell(
            where, [Entry(p, k, f) for p, k, (f, _) in zip(progs, keys, fits, strict=True)]
        )
        for p, k, (f, rung) in zip(progs, keys, fits, strict=True):
            seen.add(k)
            if (rung, f) > (best[1], best[0]):
                best = (f, rung, p, k)
        generations += 1
        if generations % 10 == 1:
            print(
                f"  [{'FEC' if fec else 'no FEC'}] gen {generations} {time.perf_counter() - t0:.0f}s"
                f" proposals {proposals} paid {dict(funnel.stats.paid)} best {best[0]:.3f}"
                f" (rung {best[1]}) restarts {islands.restarts}",
                flush=True,
            )
        curve.append(
            {
                "s": time.perf_counter() - t0,
                "proposals": proposals,
                "paid": dict(funnel.stats.paid),
                "best": best[0],
                "best_rung": best[1],
            }
        )
    top = sorted(
        {e.key: (e.fitness, e.genome) for e in islands.members()}.values(), key=lambda x: -x[0]
    )[: a.top]
    final = distinct_functions(funnel.finalists(8 * a.finalists), a.finalists)
    return {
        "fec": fec,
        "seconds": time.perf_counter() - t0,
        "generations": generations,
        "proposals": proposals,
        "paid_by_rung": dict(funnel.stats.paid),
        "cache_hits_rung0": proposals - funnel.stats.paid.get(0, 0),
        "cache_hits_by_rung": dict(funnel.stats.hits),
        "distinct_functions": len(seen) if fec else None,
        "hashes_computed": hashed if fec else None,
        "hash_s": hash_s,
        "train_s": train_s,
        "restarts": islands.restarts,
        "migrations": islands.migrations,
        "best_fitness": best[0],
        "best_rung": best[1],
        "best_raw": best[2].program().to_source(),
        "best_simplified": simplify(best[2].program()).to_source(),
        "best_program": best[2].program(),
        "top_programs": [p.program() for _, p in top],
        "top_fitness": [f for f, _ in top],
        "finalists": [p.program() for _, p in final],
        "finalist_fitness": [f for f, _ in final],
        "curve": curve[:: max(1, len(curve) // 200)],
    }


def distinct_functions(ranked: list[tuple[str, float, Any]], n: int) -> list[tuple[float, Any]]:
    """The first `n` of `ranked` (key, score, program), best first, one per functional hash.

    Keys of the FEC search are hashes already; without FEC each proposal is its own key, so the
    top of the funnel holds many copies of one function: the finalists ranked on validation must
    be distinct functions (else the validation picks among copies, or among near-copies).
    """
    hashes = functional_hashes([p for _, _, p in ranked]) if ranked else []
    out: dict[str, tuple[float, Any]] = {}
    for h, (_, f, p) in zip(hashes, ranked, strict=True):
        if h not in out and len(out) < n:
            out[h] = (f, p)
    return list(out.values())


def warm_up(scorers: list[SuiteScorer], a: argparse.Namespace) -> dict[str, float]:
    """Compile every population bucket the searches can meet (seconds per rung and bucket)."""
    space = optimizer_program_space(max_statements=a.max_statements)
    rng = random.Random(12345)
    sizes = {0: bucket(a.batch), 1: bucket(max(2, round(a.promote * a.batch)))}
    out = {}
    for r, sc in enumerate(scorers):
        for b in BUCKETS:
            if b <= sizes.get(r, sizes[1]):
                t = time.perf_counter()
                sc.score([SlotProgram.random(space, rng) for _ in range(b)])
                out[f"rung{r}_b{b}"] = time.perf_counter() - t
    t = time.perf_counter()
    for n in (8, 16):  # the hash's compiled shapes: instruction pads x power-of-2 chunks
        long = [
            q
            for q in (SlotProgram.random(space, rng) for _ in range(4096))
            if len(q.live()) > n - 8
        ]
        progs = [q for q in long if len(q.live()) <= n]
        k = 1
        while k <= min(CHUNK, len(progs)):
            functional_hashes(progs[:k])
            k *= 2
    out["hash"] = time.perf_counter() - t
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget-s", type=float, default=None, help="240 (--quick: 8)")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--population", type=int, default=4096)
    p.add_argument("--tournament", type=int, default=32)
    p.add_argument("--promote", type=float, default=0.03)
    p.add_argument(
        "--promote-above", type=float, default=-1.0, help="lowest rung score that may promote"
    )
    p.add_argument("--max-statements", type=int, default=12)
    p.add_argument("--init-active", type=int, default=3, help="0: every slot random")
    p.add_argument(
        "--mutation",
        choices=("many", "one", "structured"),
        default="many",
        help="structured: mutate_many with new EMAs, rewired reads, decay moves (edits.py)",
    )
    p.add_argument(
        "--structured-weight",
        type=float,
        default=1.0,
        help="scale of the ema/rewire/decay edits' share under --mutation structured",
    )
    p.add_argument("--islands", type=int, default=1, help="populations of population/K each")
    p.add_argument("--migrate-every", type=int, default=0, help="generations; 0: never")
    p.add_argument(
        "--restart-after", type=int, default=0, help="stagnant generations; 0: never restart"
    )
    p.add_argument("--top", type=int, default=3, help="also meta-test this many of the last pop.")
    p.add_argument("--finalists", type=int, default=64, help="ranked on validation tasks")
    p.add_argument("--meta-replicates", type=int, default=8, help="meta-test seed replicates")
    p.add_argument("--axis", default="auto", help="population axis: auto, vmap, map")
    p.add_argument(
        "--suite",
        choices=("scaled", "plain"),
        default="scaled",
        help="search rungs: scaled = each task's loss at another scale (rewards lr-scaled,"
        " adaptive updates); plain = the unscaled search suites",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--searches", default="fec,nofec", help="which searches, comma-separated")
    p.add_argument("--no-warmup", action="store_true")
    p.add_argument("--quick", action="store_true", help="tiny CPU suites and budget (seconds)")
    p.add_argument(
        "--json",
        "--out",
        dest="out",
        type=Path,
        default=Path("benchmarks/results/optimizer_discovery.json"),
    )
    a = p.parse_args()
    if a.budget_s is None:
        a.budget_s = 8.0 if a.quick else 240.0
    if a.quick:
        a.batch, a.population = 32, 64
        a.tournament, a.promote, a.max_statements, a.no_warmup = 8, 0.1, 8, True
    fids, meta_fid, val_fid = (
        (QUICK_FIDELITIES, QUICK_META_FIDELITY, QUICK_VALIDATION_FIDELITY)
        if a.quick
        else (
            SCALED_FIDELITIES if a.suite == "scaled" else FIDELITIES,
            META_FIDELITY,
            VALIDATION_FIDELITY,
        )
    )
    dev = jax.devices()[0]
    t0 = time.perf_counter()
    scorers = [SuiteScorer(fids[r], population_axis=a.axis) for r in sorted(fids)]
    meta = ReplicateScorer(meta_fid, a.meta_replicates, population_axis=a.axis)
    refs = {**reference_programs(), **expressible_programs()}  # adam_nobc fits the 12 slots
    ref_rows = {r: scorers[r].score(list(refs.values())) for r in range(len(scorers))}
    for r in ref_rows:
        print(
            f"rung {r}: "
            + ", ".join(f"{n}={x['score']:.3f}" for n, x in zip(refs, ref_rows[r], strict=True)),
            flush=True,
        )
    compile_s = {} if a.no_warmup else warm_up(scorers, a)
    setup_s = time.perf_counter() - t0
    print(f"setup {setup_s:.0f}s (compile {sum(compile_s.values()):.0f}s)", flush=True)
    runs = [
        search(scorers, a, fec=name == "fec", seed=a.seed)
        for name in a.searches.split(",")
        if name in ("fec", "nofec")
    ]
    val = SuiteScorer(val_fid, population_axis=a.axis)
    val_refs = val.score(list(refs.values()))
    print(
        "validation: "
        + ", ".join(f"{n}={x['score']:.3f}" for n, x in zip(refs, val_refs, strict=True))
    )
    for r in runs:  # pick by the validation tasks among the finalists (never by the meta-test)
        vs = val.score(r["finalists"]) if r["finalists"] else []
        r["finalist_validation"] = [x["score"] for x in vs]
        pick = max(range(len(vs)), key=lambda i: vs[i]["score"]) if vs else None
        r["selected"] = r["finalists"][pick] if pick is not None else r["best_program"]
        r["selected_validation"] = vs[pick]["score"] if pick is not None else None
        r["selected_source"] = r["selected"].to_source()
        r["selected_simplified"] = simplify(r["selected"]).to_source()
    tag = {True: "FEC", False: "no FEC"}
    names = list(refs) + [f"found ({tag[r['fec']]})" for r in runs]
    extra = [(f"selected ({tag[r['fec']]})", r["selected"]) for r in runs]
    extra += [
        (f"top{i + 1} ({tag[r['fec']]})", q)
        for r in runs
        for i, q in enumerate(r["top_programs"][1:])
    ]
    names += [n for n, _ in extra]
    progs = list(refs.values()) + [r["best_program"] for r in runs] + [q for _, q in extra]
    rows, band = meta_rows(meta, names, progs, ref_rows)
    print(f"device {dev.platform}:{getattr(dev, 'device_kind', '')}; setup {setup_s:.0f}s")
    print_tables(runs, rows, band, a.meta_replicates)
    for r in runs:
        print(
            f"\nbest program, {'FEC' if r['fec'] else 'no FEC'} (simplified):\n"
            f"{r['best_simplified']}raw:\n{r['best_raw']}"
        )
    for r in runs:
        print(
            f"\nselected on validation, {tag[r['fec']]} (validation {r['selected_validation']}):\n"
            f"{r['selected_simplified']}"
        )
    for r in runs:
        del r["best_program"], r["selected"]
        r["top_programs"] = [q.to_source() for q in r["top_programs"]]
        r["finalists"] = [q.to_source() for q in r["finalists"]]

    rec = {
        "device": f"{dev.platform}:{getattr(dev, 'device_kind', '')}",
        "args": {k: str(v) for k, v in vars(a).items()},
        "fidelities": {r: fids[r].config() for r in fids},
        "meta_fidelity": meta_fid.config(),
        "meta_replicates": a.meta_replicates,
        "meta_noise_band": band,
        "setup_s": setup_s,
        "compile_s": compile_s,
        "validation_fidelity": val_fid.config(),
        "validation_refs": {n: x["score"] for n, x in zip(refs, val_refs, strict=True)},
        "runs": runs,
        "table": rows,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(rec, indent=2, default=float))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
