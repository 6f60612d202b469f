"""Functional hashes computed on this machine's JAX backend, to compare CPU with GPU (and machines).

The hash must be a property of the function, not of the hardware: this script hashes every NB201
cell (batched path), a sample of cells on the eager path, random optimizer programs, random MLP
candidates and plain `jax.numpy` callables, and writes them with timings to JSON. `--compare`
reports how many hashes two such files share.

    python benchmarks/hash_devices.py --json benchmarks/results/hashes_cpu.json
    JAX_PLATFORMS=cuda python benchmarks/hash_devices.py --json hashes_gpu.json   # on the GPU box
    python benchmarks/hash_devices.py --compare hashes_cpu.json hashes_gpu.json
"""

from __future__ import annotations

import json
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.cli import parser as harness_parser  # noqa: E402
from harness.cli import write_json  # noqa: E402

from hashtune.hashing import Probe, functional_hash, functional_hashes  # noqa: E402

CALLABLES = {
    "double_add": lambda x: x + x,
    "double_mul": lambda x: 2.0 * x,
    "tanh": jnp.tanh,
    "tanh_via_exp": lambda x: (jnp.exp(2 * x) - 1) / (jnp.exp(2 * x) + 1),
    "softplus": jax.nn.softplus,
    "log1p_exp": lambda x: jnp.log1p(jnp.exp(x)),
    "matmul_sum": lambda x: jnp.sum(x @ x.T, axis=0),
    "sin_sq_plus_cos_sq": lambda x: jnp.sin(x) ** 2 + jnp.cos(x) ** 2,
    "ones": jnp.ones_like,
}


def _timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _safe_hash(candidate: Any) -> str:
    try:
        return functional_hash(candidate)
    except Exception as e:  # a program that cannot run is recorded, not fatal
        return f"error:{type(e).__name__}"


def compute(n_programs: int, n_mlps: int, n_cells: int | None = None) -> dict[str, Any]:
    """Every hash family on the default JAX backend, with wall times."""
    from hashtune.spaces.mlp import mlp_space
    from hashtune.spaces.nas_bench_201 import all_cells
    from hashtune.spaces.optimizers import optimizer_program_space, seed_programs

    cells = all_cells()[:n_cells]
    functional_hashes(cells[:600])  # compile outside the timing
    nb201, nb201_s = _timed(lambda: functional_hashes(cells))
    sample = cells[:: max(1, len(cells) // 125)]
    eager, eager_s = _timed(lambda: [functional_hash(c) for c in sample])
    space = optimizer_program_space()
    rng = random.Random(0)
    programs = [space.materialize(space.random_dna(rng)) for _ in range(n_programs)]
    program_hashes, programs_s = _timed(lambda: [_safe_hash(p) for p in programs])
    mspace = mlp_space()
    mrng = random.Random(1)
    mlps = [mspace.materialize(mspace.random_dna(mrng)) for _ in range(n_mlps)]
    probe = Probe(shapes=[(8, 5)])
    return {
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "jax": jax.__version__,
        "host": platform.node(),
        "timings_s": {
            "nb201_batched_all": nb201_s,
            "nb201_eager_sample": eager_s,
            "programs": programs_s,
        },  # fmt: skip
        "rates_per_s": {
            "nb201_batched": len(cells) / nb201_s,
            "nb201_eager": len(sample) / eager_s,
            "programs": len(programs) / programs_s,
        },
        "hashes": {
            "nb201": nb201,
            "nb201_eager_sample": eager,
            "programs": program_hashes,
            "seed_programs": {k: functional_hash(p) for k, p in seed_programs().items()},
            "mlp": [_safe_hash(m) for m in mlps],
            "callables": {k: functional_hash(f, probe=probe) for k, f in CALLABLES.items()},
        },
    }


def _flatten(hashes: dict[str, Any]) -> dict[str, str]:
    flat = {}
    for family, value in hashes.items():
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, h in items:
            flat[f"{family}/{key}"] = h
    return flat


def compare(a_path: Path, b_path: Path) -> dict[str, Any]:
    """Per family: how many hashes agree between two result files; lists the first mismatches."""
    a, b = json.loads(a_path.read_text()), json.loads(b_path.read_text())
    fa, fb = _flatten(a["hashes"]), _flatten(b["hashes"])
    families: dict[str, list[int]] = {}
    mismatches = []
    for key in sorted(set(fa) & set(fb)):
        fam = key.split("/")[0]
        same = fa[key] == fb[key]
        families.setdefault(fam, [0, 0])[0 if same else 1] += 1
        if not same and len(mismatches) < 10:
            mismatches.append((key, fa[key], fb[key]))
    print(
        f"A: {a['backend']} jax {a['jax']} on {a['host']}   B: {b['backend']} jax {b['jax']} on {b['host']}"
    )
    print(f"{'family':<22}{'equal':>8}{'differ':>8}")
    for fam, (eq, ne) in families.items():
        print(f"{fam:<22}{eq:>8}{ne:>8}")
    for key, ha, hb in mismatches:
        print(f"  differs: {key}: {ha} vs {hb}")
    # the partition matters more than the digest: equal classes on both sides?
    na, nb = a["hashes"]["nb201"], b["hashes"]["nb201"]
    same_partition = len(set(na)) == len(set(nb)) == len(set(zip(na, nb, strict=True)))
    print(f"NB201 classes: {len(set(na))} vs {len(set(nb))}; same partition: {same_partition}")
    return {"families": families, "same_nb201_partition": same_partition}


def main() -> None:
    parser = harness_parser(__doc__, "hashes_cpu", seed=None)
    parser.add_argument("--programs", type=int, default=2000)
    parser.add_argument("--mlps", type=int, default=50)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"))
    args = parser.parse_args()
    if args.compare:
        compare(*args.compare)
        return
    cells = None
    if args.quick:  # seconds: the first 200 NB201 cells, a few programs and MLPs
        args.programs, args.mlps, cells = 10, 3, 200
    result = compute(args.programs, args.mlps, cells)
    write_json(result, args.json, indent=None)
    print(
        json.dumps({k: result[k] for k in ("backend", "devices", "jax", "rates_per_s")}, indent=1)
    )


if __name__ == "__main__":
    main()
