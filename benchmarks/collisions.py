"""Collision study of the functional hash on random optimizer programs: false merges and splits.

Samples `--n` programs from the optimizer-program space (every gene uniform, as `random_dna`),
runs each through the jitted register-machine interpreter (`spaces.optimizers.batched`, the
programs' batched hash form) on the probes of each hash configuration, and on a fresh, much wider
*check* set (other seed, 64 regimes, every range widened by several decades). Then:

- false merge: two programs with one hash that differ on the check set (checked pairwise with a
  tolerance of 1e-9 relative, NaN / inf patterns exact);
- split: two programs equal on the check set (same tolerance) with different hashes.

Counts are per 100k programs, for the v2 probes (main before issue 9: w, g, m in [-1, 1], v in
[0, 1], one flush scale per leaf) and the v3 probes (log-scale regimes) for several numbers of probe
batches and significant digits. Prints an 80-column table, writes benchmarks/results/collisions.json.
Usage: `.venv/bin/python benchmarks/collisions.py [--n 100000] [--seed 0] [--chunk 1024] [--quick]
[--json PATH]`.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from rich.progress import Progress

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collisions_report import pick, report  # noqa: E402
from harness.cli import parser, write_json  # noqa: E402

from hashtune.hashing import (  # noqa: E402
    DEFAULT_DIGITS,
    DEFAULT_FLUSH,
    Probe,
    functional_hash,
    functional_hashes,
    output_digest,
    quantise,
)
from hashtune.hashing.probe import LOG_BATCHES  # noqa: E402
from hashtune.spaces.base import Executable, InputSpec  # noqa: E402
from hashtune.spaces.optimizers.batched import MAX_ARITY, ProgramArrays  # noqa: E402
from hashtune.spaces.optimizers.instruction import Instruction  # noqa: E402
from hashtune.spaces.optimizers.ops import OP_NAMES, OPS, op_impl  # noqa: E402
from hashtune.spaces.optimizers.program import INPUT_SPECS, INPUTS  # noqa: E402
from hashtune.spaces.optimizers.space import OptimizerProgramSpace  # noqa: E402

VEC = (16,)
#: v2 probes (main before issue 9).
V2_SPECS = (
    InputSpec("w", VEC),
    InputSpec("g", VEC),
    InputSpec("m", VEC),
    InputSpec("v", VEC, low=0.0, high=1.0),
    InputSpec("lr", (), low=1e-3, high=1e-1),
    InputSpec("t", (), low=1.0, high=100.0),
)
#: The check set: every v3 range widened (g 1e-12..1e6, v 1e-24..1e12, lr 1e-9..1e3, t to 1e8).
WIDE = {"w": (1e-12, 1e6), "g": (1e-12, 1e6), "m": (1e-12, 1e6), "v": (1e-24, 1e12)}
WIDE |= {"lr": (1e-9, 1e3), "t": (1.0, 1e8)}
WIDE_SPECS = tuple(replace(s, low=WIDE[s.name][0], high=WIDE[s.name][1]) for s in INPUT_SPECS)
#: Batches of the check-set key every program gets (groups candidate splits), and of the two check
#: sets candidates are verified on: the wide one and a fresh one within the v3 ranges.
KEY_BATCHES, CHECK_BATCHES, WIDE_SEED = 32, 128, 987_654
BATCHES, DIGITS = (2, 4, 8, 16), (4, 6, 8)
RTOL = 1e-9


def sample_genes(space: OptimizerProgramSpace, n: int, seed: int) -> np.ndarray:
    """(n, slots, genes) int gene values, each uniform over its choices (as `random_dna`)."""
    rng = np.random.default_rng(seed)
    sizes = [len(space.ops) + 1, len(space.writable)]
    sizes += [len(space.readable) + 1, len(space.constants)] * MAX_ARITY
    return np.stack([rng.integers(0, k, (n, space.max_statements)) for k in sizes], axis=-1)


def to_arrays(space: OptimizerProgramSpace, genes: np.ndarray) -> ProgramArrays:
    """The register machine of each gene row as stacked `ProgramArrays` (leading axis n)."""
    n, slots, _ = genes.shape
    reg = {name: i for i, name in enumerate(INPUTS)}
    reg |= {name: len(INPUTS) + i for i, name in enumerate(space.readable[len(INPUTS) :])}
    junk = len(reg)
    dest_reg = np.array([reg[w] for w in space.writable])
    read_reg = np.array([reg[r] for r in space.readable] + [0])
    op_idx = np.array([0] + [OP_NAMES.index(o) for o in space.ops])
    noop = genes[..., 0] == 0
    a = genes[..., 2::2]
    consts = np.asarray(space.constants)[genes[..., 3::2]]
    out = np.array([reg["update"], reg["m"], reg["v"]])
    return ProgramArrays(
        op=op_idx[genes[..., 0]].astype(np.int32),
        dest=np.where(noop, junk, dest_reg[genes[..., 1]]).astype(np.int32),
        src=read_reg[a].astype(np.int32),
        const=np.where(a == len(space.readable), consts, 0.0),
        is_const=a == len(space.readable),
        out=np.broadcast_to(out, (n, 3)).astype(np.int32),
        out_const=np.zeros((n, 3)),
        out_is_const=np.zeros((n, 3), bool),
        scratch=np.zeros((n, junk + 1 - len(INPUTS))),
    )


def instructions(space: OptimizerProgramSpace, genes: np.ndarray) -> list[Instruction]:
    """The slot list of one gene row (to materialise it as a `Program` through the space)."""
    out = []
    for g in genes:
        if g[0] == 0:
            continue
        op = space.ops[g[0] - 1]
        args = [
            space.constants[g[3 + 2 * j]]
            if g[2 + 2 * j] == len(space.readable)
            else space.readable[g[2 + 2 * j]]
            for j in range(OPS[op].arity)
        ]
        out.append(Instruction(op, space.writable[g[1]], tuple(args)))
    return out


def _apply(impl: Any, args: list[np.ndarray]) -> np.ndarray:
    """`impl(*args)` on flattened args padded to a power of two (few shapes, few XLA compiles)."""
    size = args[0].size
    padded = 1 << max(size - 1, 1).bit_length()
    flat = [jnp.asarray(np.pad(a.reshape(-1), (0, padded - size), mode="edge")) for a in args]
    return np.asarray(impl(*flat))[:size].reshape(args[0].shape)


def outputs(data: ProgramArrays, probe: Probe, lo: int, hi: int) -> np.ndarray:
    """(hi - lo, 3 leaves, batches, 16) outputs of programs lo..hi on `probe`.

    The register machine run slot by slot, each op once on the programs that use it (the same
    `op_impl` kernels as the hash, without the jitted interpreter's all-ops select: ~10x less work).
    """
    d = jax.tree_util.tree_map(lambda x: np.asarray(x[lo:hi]), data)
    n, rows = hi - lo, np.arange(hi - lo)
    with jax.enable_x64(True):
        inputs = [
            np.broadcast_to(a.reshape(a.shape[0], -1), (a.shape[0], 16)) for a in probe.stacked
        ]
        env = np.zeros((n, len(INPUTS) + d.scratch.shape[1], *inputs[0].shape))
        env[:, : len(INPUTS)] = np.stack(inputs)
        for k in range(d.op.shape[1]):
            args = [
                np.where(
                    d.is_const[:, k, j, None, None],
                    d.const[:, k, j, None, None],
                    env[rows, d.src[:, k, j]],
                )
                for j in range(MAX_ARITY)
            ]
            new = np.empty_like(args[0])
            for o in np.unique(d.op[:, k]):
                sel = d.op[:, k] == o
                impl, arity = op_impl(OP_NAMES[o]), OPS[OP_NAMES[o]].arity
                new[sel] = _apply(impl, [a[sel] for a in args[:arity]])
            env[rows, d.dest[:, k]] = new
        return np.stack([env[rows, d.out[:, j]] for j in range(3)], axis=1)


def row_digests(out: np.ndarray, digits: int, axis: tuple[int, ...]) -> list[bytes]:
    """One digest per program of its quantised outputs (equal digest <=> equal hash)."""
    exp, man = quantise(out, digits, DEFAULT_FLUSH, axis=axis)
    rows = np.concatenate([exp.reshape(len(out), -1), man.reshape(len(out), -1)], axis=1)
    return [hashlib.blake2b(r.tobytes(), digest_size=16).digest() for r in rows]


def close(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal on the check set: NaN / inf patterns exact, finite values within RTOL (flush aware)."""
    if not (
        np.array_equal(np.isnan(a), np.isnan(b)) and np.array_equal(a[np.isinf(a)], b[np.isinf(b)])
    ):
        return False
    if not np.array_equal(np.isinf(a), np.isinf(b)):
        return False
    fa, fb = np.where(np.isfinite(a), a, 0.0), np.where(np.isfinite(b), b, 0.0)
    scale = np.maximum(np.abs(fa).max(-1, keepdims=True), np.abs(fb).max(-1, keepdims=True))
    tol = RTOL * np.maximum(np.abs(fa), np.abs(fb)) + DEFAULT_FLUSH * scale
    return bool(np.all(np.abs(fa - fb) <= tol))


def clusters(reps: list[tuple[Any, int, int]], *sets: dict[int, np.ndarray]) -> list[list[tuple]]:
    """Group (label, program id, members) by equality on all check `sets` (greedy, first-rep)."""
    out: list[list[tuple]] = []
    for rep in reps:
        for cl in out:
            if all(close(x[cl[0][1]], x[rep[1]]) for x in sets):
                cl.append(rep)
                break
        else:
            out.append([rep])
    return out


def pairs(sizes: list[int]) -> int:
    """Number of pairs drawn from different groups of these sizes."""
    total = sum(sizes)
    return (total * total - sum(s * s for s in sizes)) // 2


def configs() -> list[dict[str, Any]]:
    """The hash configurations compared: v2 (main) and v3 across batches and digits."""
    out = [{"probe": "v2", "batches": 4, "digits": DEFAULT_DIGITS}]
    out += [{"probe": "v3", "batches": b, "digits": d} for b in BATCHES for d in DIGITS]
    return out


def hash_everything(space: OptimizerProgramSpace, data: ProgramArrays, n: int, chunk: int):
    """Digests of every program under every config, plus its check-set key (4 digits)."""
    probes = {
        "v2": Probe.from_specs(V2_SPECS, num_batches=4),
        "v3": Probe.from_specs(INPUT_SPECS, num_batches=max(BATCHES)),
    }
    key_probe = Probe.from_specs(WIDE_SPECS, num_batches=KEY_BATCHES, seed=WIDE_SEED)
    cfgs = configs()
    digests: list[list[bytes]] = [[] for _ in cfgs]
    truth: list[bytes] = []
    timings = defaultdict(float)
    with Progress() as bar:
        task = bar.add_task("hashing programs", total=n)
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            outs = {}
            for name, probe in probes.items():
                t0 = time.perf_counter()
                outs[name] = outputs(data, probe, lo, hi)
                timings[f"{name}_eval_s"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            truth += row_digests(outputs(data, key_probe, lo, hi), 4, axis=(3,))
            timings["check_eval_s"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            for k, c in enumerate(cfgs):
                out = outs[c["probe"]][:, :, : c["batches"]]
                axis = (2, 3) if c["probe"] == "v2" else (3,)  # v2: one flush scale per leaf
                digests[k] += row_digests(out, c["digits"], axis)
            timings["digest_s"] += time.perf_counter() - t0
            bar.advance(task, hi - lo)
    return cfgs, digests, truth, dict(timings)


def candidates(digests: list[bytes], truth: list[bytes]) -> tuple[list, list]:
    """Hash classes holding several check keys, and check groups holding several hashes."""
    by_hash, by_truth = defaultdict(list), defaultdict(list)
    for i, (h, k) in enumerate(zip(digests, truth, strict=True)):
        by_hash[h].append(i)
        by_truth[k].append(i)
    merges, splits = [], []
    for ids in by_hash.values():
        groups = defaultdict(list)
        for i in ids:
            groups[truth[i]].append(i)
        if len(groups) > 1:
            merges.append([(k, g[0], len(g)) for k, g in groups.items()])
    for ids in by_truth.values():
        groups = defaultdict(list)
        for i in ids:
            groups[digests[i]].append(i)
        if len(groups) > 1:
            splits.append([(h, g[0], len(g)) for h, g in groups.items()])
    return merges, splits, len(by_hash)


def count(merges: list, splits: list, wide: dict, in_range: dict) -> dict[str, Any]:
    """False merges and splits after checking candidate representatives on the check sets.

    `fm_in_range_programs`: false merges that a fresh probe *within* the v3 ranges also sees (more
    batches or digits can fix those; the others only wider ranges).
    """
    res = dict.fromkeys(["fm_classes", "fm_programs", "fm_pairs", "split_classes"], 0)
    res["fm_in_range_programs"] = 0
    res |= {"split_extra_hashes": 0, "split_programs": 0, "split_pairs": 0}
    res |= {"fm_examples": [], "split_examples": []}
    for reps in merges:
        cls = clusters(reps, wide)
        if len(cls) > 1:
            sizes = [sum(r[2] for r in cl) for cl in cls]
            res["fm_classes"] += 1
            res["fm_programs"] += sum(sizes) - max(sizes)
            res["fm_pairs"] += pairs(sizes)
            inner = [sum(r[2] for r in cl) for cl in clusters(reps, in_range)]
            res["fm_in_range_programs"] += sum(inner) - max(inner)
            if len(res["fm_examples"]) < 5:
                res["fm_examples"].append([cl[0][1] for cl in cls[:2]])
    for reps in splits:
        for cl in clusters(reps, wide, in_range):
            if len(cl) > 1:
                sizes = [r[2] for r in cl]
                res["split_classes"] += 1
                res["split_extra_hashes"] += len(cl) - 1
                res["split_programs"] += sum(sizes) - max(sizes)
                res["split_pairs"] += pairs(sizes)
                if len(res["split_examples"]) < 5:
                    res["split_examples"].append([r[1] for r in cl[:2]])
    return res


def check_faithful(space, genes, data, m: int) -> dict[str, Any]:
    """The study's digests (dead state passed through) equal `functional_hash` of the same
    programs built as `Program`s;
    and the hash rates of the real API: batched (cold and warm), one at a time, v2 eager."""
    t0 = time.perf_counter()
    progs = [space.program_of(instructions(space, g)) for g in genes[:m]]
    build_s = time.perf_counter() - t0
    rates = {"program_of_per_s": m / build_s}
    for label in ("functional_hashes_cold_per_s", "functional_hashes_warm_per_s"):
        t0 = time.perf_counter()
        real = functional_hashes(progs)
        rates[label] = m / (time.perf_counter() - t0)
    few = progs[: min(m, 50)]
    t0 = time.perf_counter()
    singles = [functional_hash(p) for p in few]
    rates["functional_hash_warm_per_s"] = len(few) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for p in few:
        functional_hash(Executable(p.executable().fn, V2_SPECS))  # v2: eager, unit ranges
    rates["v2_eager_per_s"] = len(few) / (time.perf_counter() - t0)
    probe = Probe.from_specs(INPUT_SPECS)
    out = outputs(data, probe, 0, m)
    for i, prog in enumerate(progs):  # a dead state is passed through (its output is its input)
        for j, name in ((1, "m"), (2, "v")):
            if name not in prog.live_state():
                x = probe.stacked[INPUTS.index(name)]
                out[i, j] = np.broadcast_to(x.reshape(x.shape[0], -1), out.shape[2:])
    ours = [output_digest(list(o)) for o in out]
    agree = sum(a == b for a, b in zip(real, ours, strict=True))
    return {"programs": m, "agree": agree, "single_agree": singles == real[: len(few)]} | rates


def main() -> None:
    ap = parser(__doc__, "collisions")
    ap.add_argument("--n", type=int, default=100_000, help="random programs (default 100k)")
    ap.add_argument("--chunk", type=int, default=1024, help="programs per compiled call")
    ap.add_argument("--check", type=int, default=1000, help="programs checked vs functional_hash")
    ap.add_argument("--show", type=Path, help="only print the table of a saved JSON result")
    args = ap.parse_args()
    if args.quick:  # seconds: a few hundred programs in small compiled chunks
        args.n, args.chunk, args.check = 128, 128, 4
    if args.show:
        report(json.loads(args.show.read_text()))
        return
    space = OptimizerProgramSpace()
    genes = sample_genes(space, args.n, args.seed)
    data = to_arrays(space, genes)
    t0 = time.perf_counter()
    cfgs, digests, truth, timings = hash_everything(space, data, args.n, args.chunk)
    total_s = time.perf_counter() - t0
    found = [candidates(d, truth) for d in digests]
    need = sorted({r[1] for m, s, _ in found for reps in m + s for r in reps})
    wide_probe = Probe.from_specs(WIDE_SPECS, num_batches=CHECK_BATCHES, seed=WIDE_SEED + 2)
    in_range_probe = Probe.from_specs(INPUT_SPECS, num_batches=CHECK_BATCHES, seed=WIDE_SEED + 1)
    wide, in_range = {}, {}
    for lo in range(0, len(need), args.chunk):
        ids = np.asarray(need[lo : lo + args.chunk])
        sub = jax.tree_util.tree_map(lambda x, ids=ids: x[ids], data)
        wide.update(zip(ids.tolist(), outputs(sub, wide_probe, 0, len(ids)), strict=True))
        in_range.update(zip(ids.tolist(), outputs(sub, in_range_probe, 0, len(ids)), strict=True))
    for c, (merges, splits, n_classes) in zip(cfgs, found, strict=True):
        c |= count(merges, splits, wide, in_range) | {"classes": n_classes}
        for key in ("fm_examples", "split_examples"):
            c[key] = [
                [space.program_of(instructions(space, genes[i])).to_source() for i in ex]
                for ex in c[key][:3]
            ]
    faithful = check_faithful(space, genes, data, min(args.check, args.n))
    rate = args.n / (timings["v3_eval_s"] + timings["digest_s"] / len(cfgs))
    result = {
        "n": args.n,
        "seed": args.seed,
        "machine": platform.platform(),
        "check_sets": {
            "key_batches": KEY_BATCHES,
            "check_batches": CHECK_BATCHES,
            "seed": WIDE_SEED,
            "wide_ranges": WIDE,
            "rtol": RTOL,
        },
        "configs": cfgs,
        "defaults": {"batches": LOG_BATCHES, "digits": DEFAULT_DIGITS},
        "timings_s": timings | {"total": total_s, "study_programs_per_s": rate},
        "faithful": faithful,
    }
    result["pick"] = pick(cfgs)
    write_json(result, args.json, announce=False)
    report(result)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
