"""The collision study's table (`benchmarks/collisions.py`): one row per hash configuration."""

from __future__ import annotations

from typing import Any


def row(c: dict[str, Any], scale: float) -> str:
    def f(key: str) -> str:
        return f"{c[key] * scale:>9.1f}"

    return (
        f"{c['probe']:<3} {c['batches']:>3} {c['digits']:>3} {c['classes'] * scale:>9.0f}"
        f"{f('fm_classes')}{f('fm_programs')}{f('fm_in_range_programs')}{f('split_classes')}"
        f"{f('split_extra_hashes')}{f('split_programs')}"
    )


def pick(cfgs: list[dict[str, Any]]) -> dict[str, int]:
    """The v3 (batches, digits) the study recommends.

    Fewest errors within the probe ranges (falsely merged programs + extra hashes of splits), a
    difference within one Poisson standard deviation of the best counting as a tie; then the
    cheapest probe; then digits nearest 6 (robust to device reassociation, hashing/quantise.py).
    Merges seen only beyond the ranges are reported, but wider ranges, not batches, fix them.
    """
    v3 = [c for c in cfgs if c["probe"] == "v3"]
    errors = {id(c): c["fm_in_range_programs"] + c["split_extra_hashes"] for c in v3}
    least = min(errors.values())
    ties = [c for c in v3 if errors[id(c)] <= least + least**0.5]
    best = min(ties, key=lambda c: (c["batches"], abs(c["digits"] - 6), errors[id(c)]))
    return {"batches": best["batches"], "digits": best["digits"]}


def report(result: dict[str, Any]) -> None:
    """Print the 80-column table of a study's results."""
    n, cfgs, faithful = result["n"], result["configs"], result["faithful"]
    scale = 1e5 / n
    print(f"collision study: {n} random optimizer programs, counts per 100k programs")
    print(f"{'':<11}{'hash':>9}{'false merges':>22}{'in-range':>10}{'splits':>23}")
    print(
        f"{'pr':<3} {'B':>3} {'dig':>3} {'classes':>9}{'classes':>9}{'progs':>9}{'progs':>9}"
        f"{'classes':>9}{'extra':>9}{'progs':>9}"
    )
    for c in cfgs:
        print(row(c, scale))
    best, default = pick(cfgs), result["defaults"]
    print(
        f"v3 default B={default['batches']} digits={default['digits']}; study's pick: "
        f"B={best['batches']} digits={best['digits']}"
    )
    print(
        f"hashes/s: functional_hashes {faithful['functional_hashes_warm_per_s']:.0f} (warm), "
        f"functional_hash {faithful['functional_hash_warm_per_s']:.0f}, v2 eager "
        f"{faithful['v2_eager_per_s']:.1f}; study {result['timings_s']['study_programs_per_s']:.0f}"
    )
    print(f"study digests == functional_hash: {faithful['agree']}/{faithful['programs']}")
