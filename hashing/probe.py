"""Fixed, seeded probe inputs on which the functional hash runs every candidate.

Probe values come from a PCG64 bit generator seeded with a SHA-256 digest of (probe seed, batch
index, input position, shape, dtype, range). Raw 64-bit words are turned into numbers by hand
(`(word >> 11) * 2**-53`), so the values depend neither on Python's `hash()` nor on how a numpy
version implements `Generator.uniform`: they are the same in every process, run and machine.
Inputs are identified by position, never by name, so renaming an argument does not change a hash.

Log-scale inputs (`InputSpec.scale` "log"/"log+") cover many decades: each batch is one magnitude
*regime* per group of inputs sharing a range (w, g and m of an optimizer; v, lr and t each on
their own): a quantile `q` of the group's log range, spread over batches by a van der Corput
sequence, digit-scrambled and shifted per group (any prefix of batches covers the range, and the
groups' regimes are paired differently in each batch, so `maximum(w, t)` sees both orders). Each
value sits within `REGIME_SPREAD` of its regime, with a random sign and a `zeros` fraction of exact
zeros. Inputs of one group thus differ by a few decades at most within a batch, which keeps float
cancellation noise (`(g + w) - w` against `g`) far below the quantisation step, while across
batches every input visits its whole range. Magnitudes are `10**k * (1 + 9f)` (`10**k` from
correctly rounded literals): no libm `pow` on probe values (`log10` only of the range ends).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hashtune.spaces.base import SCALES, InputSpec

_FLOAT_DTYPES = ("float64", "float32", "float16")
_INT_DTYPES = ("int64", "int32", "int16", "int8", "uint8")
_DTYPES = _FLOAT_DTYPES + _INT_DTYPES + ("bool",)
#: Probe batches of linear-range probes.
DEFAULT_BATCHES = 4
#: Probe batches (magnitude regimes) when an input is log-scale, chosen by
#: `benchmarks/collisions.py` on 100k random optimizer programs: programs falsely merged within
#: the probe ranges, per 100k, were 2013 / 126 / 27 / 6 at 2 / 4 / 8 / 16 batches (6 digits, no
#: splits); v2's unit-range probes merged 6333.
LOG_BATCHES = 16
#: Half-width, in quantiles of an input's log range, of the values around a batch's regime.
REGIME_SPREAD = 0.15
_POW10 = {k: float(f"1e{k}") for k in range(-320, 309)}


def stable_seed(text: str) -> int:
    """A 64-bit seed from the SHA-256 digest of `text` (process- and machine-independent)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def stable_uniform(text: str, size: int) -> np.ndarray:
    """`size` float64 values uniform in [0, 1), a pure function of `text`."""
    words = np.random.PCG64(stable_seed(text)).random_raw(size)
    return (np.asarray(words, dtype=np.uint64) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _draw(text: str, shape: tuple[int, ...], dtype: str, low: float, high: float) -> np.ndarray:
    """One probe array of `shape`/`dtype` with values in [low, high] derived from `text`."""
    u = stable_uniform(text, int(np.prod(shape, dtype=np.int64)))
    if dtype == "bool":
        return (u < 0.5).reshape(shape)
    if dtype in _INT_DTYPES:
        lo, hi = int(np.ceil(low)), int(np.floor(high))
        vals = lo + np.minimum(np.floor(u * (hi - lo + 1)), hi - lo)
        return vals.astype(dtype).reshape(shape)
    return (low + (high - low) * u).reshape(shape).astype(dtype)


def _van_der_corput(b: int) -> float:
    """The base-2 radical inverse of `b`: 0, 1/2, 1/4, 3/4, 1/8, ... (well spread prefixes)."""
    q, denom = 0.0, 1.0
    while b:
        b, bit = divmod(b, 2)
        denom *= 2.0
        q += bit / denom
    return q


def regime(seed: int, b: int, low: float = 1.0, high: float = 1.0) -> float:
    """The magnitude quantile in [0, 1) that log inputs of range [low, high] in batch `b` share."""
    u = stable_uniform(f"hashtune-probe|{seed}|regime|{low}|{high}", 2)
    mask = int(u[1] * 2**16)
    return (float(u[0]) + _van_der_corput(b ^ mask)) % 1.0


def _draw_log(
    text: str, shape: tuple[int, ...], q: float, low: float, high: float, signed: bool, zeros: float
) -> np.ndarray:
    """Magnitudes log-uniform around quantile `q` of [low, high], random signs, exact zeros."""
    n = int(np.prod(shape, dtype=np.int64))
    u = stable_uniform(text, 3 * n).reshape(3, n)
    e = q + REGIME_SPREAD * (2.0 * u[0] - 1.0)
    e = np.where(e < 0.0, -e, np.where(e > 1.0, 2.0 - e, e))  # reflect into [0, 1]
    lo, hi = np.log10(low), np.log10(high)
    p = lo + e * (hi - lo)
    k = np.floor(p)
    pow10 = np.array([_POW10[int(x)] for x in np.clip(k, -320, 308)])
    mag = np.clip(pow10 * (1.0 + 9.0 * (p - k)), low, high)
    sign = np.where(u[1] < 0.5, -1.0, 1.0) if signed else 1.0
    return np.where(u[2] < zeros, 0.0, sign * mag).reshape(shape)


@lru_cache(maxsize=256)
def _stacked(signature: tuple) -> tuple[np.ndarray, ...]:
    """Probe arrays of a `Probe.signature` (cached: candidates share a handful of probes)."""
    shapes, dtypes, ranges, num_batches, seed, scales, zeros = signature
    out = []
    for i, (shape, dtype, (lo, hi)) in enumerate(zip(shapes, dtypes, ranges, strict=True)):
        batches = []
        for b in range(num_batches):
            text = f"hashtune-probe|{seed}|{b}|{i}|{shape}|{dtype}|{lo}|{hi}"
            if scales[i] == "linear":
                batches.append(_draw(text, shape, dtype, lo, hi))
                continue
            q = regime(seed, b, lo, hi)
            vals = _draw_log(
                f"{text}|{scales[i]}|{zeros[i]}", shape, q, lo, hi, scales[i] == "log", zeros[i]
            )
            batches.append(vals.astype(dtype))
        arr = np.stack(batches)
        arr.setflags(write=False)
        out.append(arr)
    return tuple(out)


@dataclass(frozen=True)
class Probe:
    """Shapes, dtypes, ranges and scales of the inputs, plus how many batches and the seed.

    `scales` (per input, default "linear") and `zeros` (per input, default 0) as in `InputSpec`.
    `num_batches=None`: `LOG_BATCHES` when an input is log-scale (one magnitude regime per batch,
    so more batches cover the decades), else `DEFAULT_BATCHES`.
    """

    shapes: Sequence[Sequence[int]]
    dtypes: Sequence[str] | None = None
    ranges: Sequence[tuple[float, float]] | None = None
    num_batches: int | None = None
    seed: int = 0
    scales: Sequence[str] | None = None
    zeros: Sequence[float] | None = None

    def __post_init__(self) -> None:
        shapes = tuple(tuple(int(d) for d in s) for s in self.shapes)
        if not shapes:
            raise ValueError(f"`shapes` must name at least one input, got {self.shapes!r}")
        for s in shapes:
            if any(d < 0 for d in s):
                raise ValueError(f"`shapes` must hold non-negative dims, got {s!r}")
        n = len(shapes)
        dtypes = tuple(self.dtypes) if self.dtypes is not None else ("float64",) * n
        ranges = tuple(self.ranges) if self.ranges is not None else ((-1.0, 1.0),) * n
        if len(dtypes) != n:
            raise ValueError(f"`dtypes` must have {n} entries, got {self.dtypes!r}")
        if len(ranges) != n:
            raise ValueError(f"`ranges` must have {n} entries, got {self.ranges!r}")
        for d in dtypes:
            if d not in _DTYPES:
                raise ValueError(f"`dtypes` entries must be one of {_DTYPES}, got {d!r}")
        ranges = tuple((float(lo), float(hi)) for lo, hi in ranges)
        for lo, hi in ranges:
            if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
                raise ValueError(f"`ranges` entries must be finite (low, high), got {(lo, hi)!r}")
        scales = tuple(self.scales) if self.scales is not None else ("linear",) * n
        zeros = tuple(float(z) for z in self.zeros) if self.zeros is not None else (0.0,) * n
        if len(scales) != n or any(sc not in SCALES for sc in scales):
            raise ValueError(f"`scales` must be {n} entries from {SCALES}, got {self.scales!r}")
        if len(zeros) != n or not all(0.0 <= z <= 1.0 for z in zeros):
            raise ValueError(f"`zeros` must be {n} fractions in [0, 1], got {self.zeros!r}")
        for sc, d, (lo, hi) in zip(scales, dtypes, ranges, strict=True):
            if sc != "linear" and (d not in _FLOAT_DTYPES or lo <= 0.0):
                raise ValueError(
                    f"`scales` entry {sc!r} needs a float dtype and magnitudes 0 < low <= high, "
                    f"got dtype {d!r} and range {(lo, hi)!r}"
                )
        if self.num_batches is None:
            log = any(sc != "linear" for sc in scales)
            object.__setattr__(self, "num_batches", LOG_BATCHES if log else DEFAULT_BATCHES)
        if not isinstance(self.num_batches, int) or self.num_batches < 1:
            raise ValueError(f"`num_batches` must be an int >= 1, got {self.num_batches!r}")
        if not isinstance(self.seed, int):
            raise ValueError(f"`seed` must be an int, got {self.seed!r}")
        object.__setattr__(self, "shapes", shapes)
        object.__setattr__(self, "dtypes", dtypes)
        object.__setattr__(self, "ranges", ranges)
        object.__setattr__(self, "scales", scales)
        object.__setattr__(self, "zeros", zeros)

    @classmethod
    def from_specs(
        cls, specs: Sequence[InputSpec], num_batches: int | None = None, seed: int = 0
    ) -> Probe:
        """The probe for inputs described by `InputSpec`s (names are ignored: position counts)."""
        specs = tuple(specs)
        return cls(
            shapes=[s.shape for s in specs],
            dtypes=[s.dtype for s in specs],
            ranges=[(s.low, s.high) for s in specs],
            num_batches=num_batches,
            seed=seed,
            scales=[s.scale for s in specs],
            zeros=[s.zeros for s in specs],
        )

    def with_specs(self, specs: Sequence[InputSpec]) -> Probe:
        """This probe's batch count and seed applied to other input specs."""
        return Probe.from_specs(specs, num_batches=self.num_batches, seed=self.seed)

    @property
    def signature(self) -> tuple:
        """A hashable description of everything that determines the probe values."""
        return (
            self.shapes,
            self.dtypes,
            self.ranges,
            self.num_batches,
            self.seed,
            self.scales,
            self.zeros,
        )

    @property
    def stacked(self) -> tuple[np.ndarray, ...]:
        """One array per input with a leading axis of `num_batches` independent batches."""
        return _stacked(self.signature)

    def batch(self, b: int) -> tuple[np.ndarray, ...]:
        """The inputs of batch `b` (one array per input)."""
        if not 0 <= b < self.num_batches:
            raise ValueError(f"`b` must be in [0, {self.num_batches}), got {b!r}")
        return tuple(a[b] for a in self.stacked)
