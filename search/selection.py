"""Selection arithmetic behind the composed steps (`search.ops`) and populations (`search.populations`).

Tournament selection and an aging population (regularized evolution), Pareto dominance,
non-dominated sorting, crowding distance and NSGA-II survival (multi-objective search), and an exact
2-D hypervolume for comparing fronts.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from hashtune.spaces.base import Genome
from hashtune.vocabulary import Direction, signs
from hashtune.vocabulary import directions as parse_directions

Point = Sequence[float]


@dataclass(frozen=True)
class Member:
    """A told, successful proposal kept in a population: trial number, DNA (`pg.DNA` or the
    space's `PlainDNA`) and objective values."""

    number: int
    dna: Genome
    values: tuple[float, ...]
    fitness: float = 0.0  # single-objective fitness to maximise (sign-adjusted first objective)


def tournament_select(
    members: Sequence[Member],
    size: int,
    rng: random.Random,
    key: Callable[[Member], float] = lambda m: m.fitness,
) -> Member:
    """Sample `size` distinct members uniformly and return the fittest (first sampled wins ties)."""
    if not members:
        raise ValueError("`members` is empty: cannot run a tournament on an empty population")
    if size < 1:
        raise ValueError(f"`size` must be >= 1, got {size!r}")
    contestants = rng.sample(list(members), min(size, len(members)))
    return max(contestants, key=key)


class AgingPopulation:
    """A FIFO population of at most `capacity` members: adding to a full one evicts the oldest."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"`capacity` must be >= 1, got {capacity!r}")
        self.capacity = capacity
        self._members: deque[Member] = deque()

    def add(self, member: Member) -> Member | None:
        """Append `member`; return the evicted oldest member, if any."""
        self._members.append(member)
        if len(self._members) > self.capacity:
            return self._members.popleft()
        return None

    @property
    def members(self) -> list[Member]:
        """Members from oldest to newest."""
        return list(self._members)

    @property
    def full(self) -> bool:
        return len(self._members) >= self.capacity

    def __len__(self) -> int:
        return len(self._members)

    def __iter__(self) -> Iterator[Member]:
        return iter(list(self._members))


def _check_directions(directions: Sequence[str]) -> None:
    parse_directions(directions)


def oriented(values: Point, directions: Sequence[str]) -> tuple[float, ...]:
    """`values` with minimised objectives negated, so that larger is better everywhere."""
    if len(values) != len(directions):
        raise ValueError(
            f"point {tuple(values)!r} has {len(values)} values but `directions` has "
            f"{len(directions)} entries"
        )
    return tuple(s * float(v) for v, s in zip(values, signs(directions), strict=True))


def dominates(a: Point, b: Point) -> bool:
    """True when oriented point `a` is >= `b` everywhere and > somewhere (maximisation)."""
    strictly = False
    for x, y in zip(a, b, strict=True):
        if x < y:
            return False
        if x > y:
            strictly = True
    return strictly


def _oriented_all(points: Sequence[Point], directions: Sequence[str]) -> list[tuple[float, ...]]:
    _check_directions(directions)
    m = len(directions)
    if not points or any(len(p) != m for p in points):
        return [oriented(p, directions) for p in points]  # raises naming the odd point
    sign = np.array(signs(directions))
    return [tuple(p) for p in (np.asarray(points, dtype=float) * sign).tolist()]


def non_dominated_sort(points: Sequence[Point], directions: Sequence[str]) -> list[list[int]]:
    """Fronts of point indices, best first (Deb et al. 2002 fast non-dominated sort).

    Points with a NaN value are dominated by every other point: they form a last front of their own.
    """
    if not points:
        return []
    pts = np.array(_oriented_all(points, directions), dtype=float).reshape(len(points), -1)
    nan = np.isnan(pts).any(axis=1)
    valid = np.flatnonzero(~nan).tolist()
    invalid = np.flatnonzero(nan).tolist()
    fronts: list[list[int]] = []
    if valid:
        # Dominance matrix in numpy: dom[a, b] is True when valid[a] dominates valid[b].
        arr = pts[valid]
        ge = (arr[:, None, :] >= arr[None, :, :]).all(axis=2)
        gt = (arr[:, None, :] > arr[None, :, :]).any(axis=2)
        dom = ge & gt
        count = dom.sum(axis=0)
        current = np.flatnonzero(count == 0)
        while current.size:
            fronts.append([valid[a] for a in current])
            count = count - dom[current].sum(axis=0)
            count[current] = -1  # placed: never again
            current = np.flatnonzero(count == 0)
    if invalid:
        fronts.append(invalid)
    return fronts


def pareto_front(points: Sequence[Point], directions: Sequence[str]) -> list[int]:
    """Indices (ascending) of the non-dominated points; points with NaN values are never included.

    Identical points do not dominate each other, so duplicates on the front are all returned.
    """
    pts = _oriented_all(points, directions)
    finite = [i for i, p in enumerate(pts) if not any(math.isnan(v) for v in p)]
    return [i for i in finite if not any(dominates(pts[j], pts[i]) for j in finite if j != i)]


def crowding_distance(
    points: Sequence[Point], front: Sequence[int], directions: Sequence[str]
) -> dict[int, float]:
    """Crowding distance of each index in `front` (boundary points get +inf), Deb et al. 2002."""
    pts = _oriented_all(points, directions)
    dist = {i: 0.0 for i in front}
    if len(front) <= 2:
        return {i: math.inf for i in front}
    for k in range(len(directions)):
        order = sorted(front, key=lambda i: pts[i][k])
        lo, hi = pts[order[0]][k], pts[order[-1]][k]
        dist[order[0]] = dist[order[-1]] = math.inf
        if hi == lo or not math.isfinite(hi - lo):
            continue
        for prev, cur, nxt in zip(order, order[1:], order[2:], strict=False):
            dist[cur] += (pts[nxt][k] - pts[prev][k]) / (hi - lo)
    return dist


def rank_and_crowding(
    points: Sequence[Point], directions: Sequence[str]
) -> tuple[list[int], list[float]]:
    """Per point: its front rank (0 = non-dominated) and its crowding distance within that front."""
    ranks = [0] * len(points)
    crowd = [0.0] * len(points)
    for r, front in enumerate(non_dominated_sort(points, directions)):
        for i, d in crowding_distance(points, front, directions).items():
            ranks[i], crowd[i] = r, d
    return ranks, crowd


def nsga2_survivors(points: Sequence[Point], directions: Sequence[str], k: int) -> list[int]:
    """Indices (ascending) of the `k` points NSGA-II keeps: whole fronts, then the least crowded."""
    return survivors_and_worst(points, directions, k)[0]


def survivors_and_worst(
    points: Sequence[Point], directions: Sequence[str], k: int
) -> tuple[list[int], list[int]]:
    """`nsga2_survivors` and, of those kept, the worst front's indices (the kept part of the
    front that was split, else the last whole front kept): what a steady-state replay needs."""
    if k < 0:
        raise ValueError(f"`k` must be >= 0, got {k!r}")
    keep: list[int] = []
    worst: list[int] = []
    for front in non_dominated_sort(points, directions):
        if len(keep) + len(front) <= k:
            keep.extend(front)
            worst = list(front)
            continue
        dist = crowding_distance(points, front, directions)
        # Most isolated first; older (lower index) first among equals, so the result is stable.
        ordered = sorted(front, key=lambda i: (-dist[i], i))
        part = ordered[: k - len(keep)]
        keep.extend(part)
        worst = part or worst
        break
    return sorted(keep), worst


def crowded_better(a: int, b: int, ranks: Sequence[int], crowd: Sequence[float]) -> int:
    """The winner of a binary tournament on (lower rank, then larger crowding); `a` wins ties."""
    if ranks[a] != ranks[b]:
        return a if ranks[a] < ranks[b] else b
    return a if crowd[a] >= crowd[b] else b


def hypervolume_2d(points: Sequence[Point], directions: Sequence[str], reference: Point) -> float:
    """Exact area dominated by 2-objective `points` and bounded by `reference` (a worst point)."""
    if len(directions) != 2:
        raise ValueError(f"`directions` must have 2 entries for hypervolume_2d, got {directions!r}")
    ref = oriented(reference, directions)
    pts = [p for p in _oriented_all(points, directions) if p[0] > ref[0] and p[1] > ref[1]]
    pts = [pts[i] for i in pareto_front(pts, (Direction.MAXIMIZE, Direction.MAXIMIZE))]
    area, last_y = 0.0, ref[1]
    for x, y in sorted(set(pts), key=lambda p: (-p[0], p[1])):
        if y > last_y:
            area += (x - ref[0]) * (y - last_y)
            last_y = y
    return area
