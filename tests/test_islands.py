"""Island evolution: independent islands, migration copies the best, restarts, default path."""

from __future__ import annotations

import random

import pytest

from hashtune.search.islands import Entry, Islands
from hashtune.spaces.optimizers.slots import SlotProgram
from hashtune.spaces.optimizers.space import optimizer_program_space


def _init(rng: random.Random) -> float:
    return rng.random()


def _mutate(parent: float, rng: random.Random) -> float:
    return parent + rng.gauss(0, 0.1)


def _step(isl: Islands, rng: random.Random, n: int = 8) -> list[tuple[int, float]]:
    out = isl.propose(n, rng, _init, _mutate)
    isl.tell([i for i, _ in out], [Entry(g, f"{g!r}", g) for _, g in out])
    return out


def test_children_stay_on_the_island_of_their_parent_until_migration() -> None:
    isl = Islands(2, size=4, tournament=2)
    rng = random.Random(0)
    for _ in range(30):
        _step(isl, rng)
    # each island's members descend only from its own: islands never mix without migration
    a = {e.genome for e in isl.pops[0]}
    b = {e.genome for e in isl.pops[1]}
    assert not a & b
    assert isl.migrations == 0


def test_migration_copies_each_islands_best_to_the_next() -> None:
    isl = Islands(3, size=4, tournament=2, migrate_every=2)
    rng = random.Random(1)
    _step(isl, rng, n=12)
    before = [max(p, key=lambda e: e.fitness) for p in isl.pops]
    assert isl.migrations == 0
    isl.tell([], [])  # generation 2: migration is due
    assert isl.migrations == 1
    for i in range(3):
        assert isl.pops[(i + 1) % 3].members[-1] == before[i]
        assert len(isl.pops[i]) == 4


def test_stagnated_island_restarts_but_never_the_leader() -> None:
    isl = Islands(2, size=2, tournament=2, restart_after=3)
    isl.tell([0, 1], [Entry(0, "a", 5.0), Entry(1, "b", 1.0)])
    for _ in range(3):
        isl.tell([0, 1], [Entry(0, "a", 0.0), Entry(1, "b", 0.0)])
    assert isl.restarts == 1
    assert len(isl.pops[1]) == 0 and len(isl.pops[0]) == 2
    assert isl.best[0] == Entry(0, "a", 5.0) and isl.best[1] is None


def test_one_island_draws_as_the_single_population_loop() -> None:
    space = optimizer_program_space(max_statements=8)

    def init(r: random.Random) -> SlotProgram:
        return SlotProgram.random_short(space, r, r.randint(1, 3))

    def mutate(p: SlotProgram, r: random.Random) -> SlotProgram:
        return p.mutate_many(r, structured=True)

    def fit(q: SlotProgram) -> float:
        return float(len(q.live()) + sum(map(ord, repr(q.instrs))) % 7)

    isl, r1, r2, pop = Islands(1, size=16, tournament=4), random.Random(3), random.Random(3), []
    for _ in range(8):  # the benchmark's loop before islands, as it was written
        if len(pop) < 16:
            want = [init(r2) for _ in range(8)]
        else:
            want = [mutate(max(r2.sample(pop, 4), key=lambda x: x[2])[0], r2) for _ in range(8)]
        pop = (pop + [(q, "k", fit(q)) for q in want])[-16:]
        got = [g for _, g in isl.propose(8, r1, init, mutate)]
        isl.tell([0] * 8, [Entry(q, "k", fit(q)) for q in got])
        assert [q.instrs for q in got] == [q.instrs for q in want]
    assert [e.genome.instrs for e in isl.members()] == [x[0].instrs for x in pop]


def test_structured_weight_one_is_the_default_stream_and_zero_differs() -> None:
    space = optimizer_program_space(max_statements=8)
    p = SlotProgram.random_short(space, random.Random(5), 3)
    r1, r2, r3 = random.Random(9), random.Random(9), random.Random(9)
    one = [p.mutate_many(r1, structured=True).instrs for _ in range(50)]
    assert one == [
        p.mutate_many(r2, structured=True, structured_weight=1.0).instrs for _ in range(50)
    ]
    assert one != [
        p.mutate_many(r3, structured=True, structured_weight=0.0).instrs for _ in range(50)
    ]


def test_bad_arguments_name_the_field() -> None:
    with pytest.raises(ValueError, match="islands"):
        Islands(0, 4, 2)
    with pytest.raises(ValueError, match="migrate_every"):
        Islands(2, 4, 2, migrate_every=-1)
