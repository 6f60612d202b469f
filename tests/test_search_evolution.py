"""Random, regularized-evolution, hill-climb and NSGA-II searchers behind the ask/tell interface."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pyglove as pg
import pytest
from warm_start_case import push

from hashtune.search import (
    NSGA2,
    Feedback,
    HillClimb,
    RandomSearch,
    RegularizedEvolution,
    Searcher,
    make_searcher,
    register_searcher,
    searcher_names,
)
from hashtune.search.book import dna_key
from hashtune.search.evolution import Evolution
from hashtune.search.ops import Deduped, Mutate, RandomDNA, RandomK, TopK
from hashtune.search.populations import KeepLast
from hashtune.search.selection import (
    AgingPopulation,
    Member,
    crowding_distance,
    dominates,
    hypervolume_2d,
    non_dominated_sort,
    nsga2_survivors,
    oriented,
    pareto_front,
    tournament_select,
)
from hashtune.spaces.base import Space
from hashtune.warm_start import WarmStartQueue, next_proposal

TARGET = (7, 2, 9, 4, 0, 5)


class Candidate(dict):
    """A materialised flat candidate: `c.x` and `c["x"]` both work."""

    __getattr__ = dict.__getitem__


class FastSpace(Space):
    """A flat space (oneof/floatv only) that skips PyGlove's slow symbolic decode and mutators.

    Same hyper value, DNA and spec as `Space`; used where a test needs thousands of proposals (the
    default `Space` takes ~15 ms a proposal on this machine, mostly in PyGlove object building).
    """

    def __init__(self, hyper_value):
        super().__init__(hyper_value)
        self._points = self.dna_spec.decision_points

    def _draw(self, dp, rng: random.Random, old=None):
        if isinstance(dp, pg.geno.Choices):
            choices = [i for i in range(len(dp.candidates)) if i != old]
            return rng.choice(choices)
        return rng.uniform(dp.min_value, dp.max_value)

    def random_dna(self, rng: random.Random) -> pg.DNA:
        return pg.DNA([self._draw(dp, rng) for dp in self._points])

    def materialize(self, dna: pg.DNA):
        values = dna.to_numbers()
        out = Candidate()
        for dp, v in zip(self._points, values, strict=True):
            out[str(dp.id)] = dp.literal_values[v] if isinstance(dp, pg.geno.Choices) else v
        return out

    def mutate(self, dna: pg.DNA, rng: random.Random) -> tuple[pg.DNA, str]:
        values = list(dna.to_numbers())
        k = rng.randrange(len(values))
        values[k] = self._draw(self._points[k], rng, old=values[k])
        return pg.DNA(values), "fast_point"


def xyz_space() -> Space:
    """The small 3-point space of the brief, with a known objective (`xyz_objective`)."""
    return Space(pg.Dict(x=pg.oneof(range(20)), y=pg.oneof(range(20)), z=pg.floatv(-1.0, 1.0)))


def xyz_objective(c) -> float:
    return -abs(c.x - 13) - abs(c.y - 4) - (c.z - 0.25) ** 2


def wide_space() -> Space:
    """Six 10-way choices plus a float: 10^6 discrete cells, too many for random search."""
    kw = {f"x{i}": pg.oneof(range(10)) for i in range(len(TARGET))}
    return FastSpace(pg.Dict(z=pg.floatv(-1.0, 1.0), **kw))


def wide_objective(c) -> float:
    return -sum(abs(c[f"x{i}"] - t) for i, t in enumerate(TARGET)) - 4 * (c.z - 0.3) ** 2


def zdt_space() -> Space:
    return FastSpace(
        pg.Dict(f=pg.oneof(range(21)), **{f"g{i}": pg.oneof(range(11)) for i in range(4)})
    )


def zdt_objectives(c) -> tuple[float, float]:
    """ZDT1-like, both minimised: the Pareto front needs every g_i = 0."""
    f1 = c.f / 20
    g = 1 + 9 * sum(c[f"g{i}"] for i in range(4)) / 40
    return f1, g * (1 - math.sqrt(f1 / g))


def run(searcher: Searcher, objective, budget: int, pending: int = 4) -> list[tuple]:
    """Drive `searcher` with `pending` proposals outstanding; (proposal, values) in tell order."""
    out, number, queue = [], 0, []
    while number < budget or queue:
        while number < budget and len(queue) < pending:
            queue.append(searcher.ask(number))
            number += 1
        proposal = queue.pop(0)
        value = objective(proposal.candidate)
        values = value if isinstance(value, tuple) else (value,)
        searcher.tell(proposal, Feedback("COMPLETE", values))
        out.append((proposal, values))
    return out


ALL = [
    lambda s, seed: RandomSearch(s, seed=seed),
    lambda s, seed: RegularizedEvolution(s, seed=seed, population_size=6, tournament_size=3),
    lambda s, seed: HillClimb(s, seed=seed, batch=2),
    lambda s, seed: NSGA2(s, ("maximize", "minimize"), seed=seed, population_size=6),
]


@pytest.mark.parametrize("factory", ALL, ids=["random", "evolution", "hill_climb", "nsga2"])
def test_many_pending_proposals(factory):
    searcher = factory(xyz_space(), 0)
    told = set()
    for round_ in range(3):
        batch = [searcher.ask(round_ * 8 + i) for i in range(8)]
        keys = {dna_key(p.dna) for p in batch}
        assert len(keys) == 8, f"round {round_}: repeated DNA among pending proposals"
        for p in batch:
            assert p.parents == () or set(p.parents) <= told
            v = xyz_objective(p.candidate)
            searcher.tell(p, Feedback("COMPLETE", (v, -v) if isinstance(searcher, NSGA2) else (v,)))
        told |= {p.number for p in batch}


def test_random_search_avoids_repeats_until_exhausted():
    space = Space(pg.Dict(a=pg.oneof(range(3)), b=pg.oneof(range(2))))
    searcher = RandomSearch(space, seed=1)
    first = [dna_key(searcher.ask(i).dna) for i in range(6)]
    assert len(set(first)) == 6
    extra = searcher.ask(6)  # Exhausted: a repeat is fine, but it still proposes.
    assert dna_key(extra.dna) in set(first)


def test_evolution_beats_random_in_median():
    budget, seeds = 100, range(5)

    def best(make) -> list[float]:
        return [max(v[0] for _, v in run(make(seed), wide_objective, budget)) for seed in seeds]

    evo = best(
        lambda seed: RegularizedEvolution(
            wide_space(), seed=seed, population_size=10, tournament_size=4
        )
    )
    rnd = best(lambda seed: RandomSearch(wide_space(), seed=seed))
    assert statistics.median(evo) > statistics.median(rnd), (evo, rnd)


def test_lineage_names_told_parent_and_mutation():
    searcher = RegularizedEvolution(xyz_space(), seed=3, population_size=8, tournament_size=3)
    told: set[int] = set()
    evolved = 0
    number, pending = 0, []
    for _ in range(60):
        while len(pending) < 5:
            pending.append(searcher.ask(number))
            number += 1
        p = pending.pop(0)
        if p.parents:
            evolved += 1
            assert len(p.parents) == 1 and p.parents[0] in told
            assert isinstance(p.mutation, str) and p.mutation
        else:
            assert p.mutation is None and p.number < 8
        state = "FAILED" if p.number % 7 == 3 else "COMPLETE"
        fb = Feedback(state, None if state == "FAILED" else (xyz_objective(p.candidate),))
        searcher.tell(p, fb)
        if fb.ok:
            told.add(p.number)
        assert all(m.number in told for m in searcher.population)
    assert evolved >= 40


def test_aging_removes_oldest():
    searcher = RegularizedEvolution(xyz_space(), seed=0, population_size=5, tournament_size=2)
    for i in range(5):
        p = searcher.ask(i)
        # The oldest member is by far the fittest: aging must still drop it.
        searcher.tell(p, Feedback("COMPLETE", (100.0 if i == 0 else float(i),)))
    assert [m.number for m in searcher.population] == [0, 1, 2, 3, 4]
    child = searcher.ask(5)
    assert child.parents
    searcher.tell(child, Feedback("COMPLETE", (0.0,)))
    assert [m.number for m in searcher.population] == [1, 2, 3, 4, 5]

    pop = AgingPopulation(2)
    a, b, c = (Member(i, pg.DNA(i), (float(i),), float(i)) for i in range(3))
    assert pop.add(a) is None and pop.add(b) is None
    assert pop.add(c) is a and [m.number for m in pop] == [1, 2]


def test_failed_feedback_is_not_in_population():
    searcher = RegularizedEvolution(xyz_space(), seed=0, population_size=4, tournament_size=2)
    for i in range(4):
        p = searcher.ask(i)
        searcher.tell(p, Feedback("FAILED") if i % 2 else Feedback("COMPLETE", (float(i),)))
    assert [m.number for m in searcher.population] == [0, 2]
    p = searcher.ask(4)  # The random phase is over: evolves from the partial population.
    assert p.parents and p.parents[0] in (0, 2)
    searcher.tell(p, Feedback("COMPLETE", (math.nan,)))
    assert len(searcher.population) == 2


def test_tournament_select_picks_fittest_of_sample():
    members = [Member(i, pg.DNA(i), (float(i),), float(i)) for i in range(10)]
    assert tournament_select(members, 10, random.Random(0)).number == 9
    picks = {tournament_select(members, 2, random.Random(s)).number for s in range(50)}
    assert 0 not in picks and len(picks) > 3
    with pytest.raises(ValueError, match="empty"):
        tournament_select([], 3, random.Random(0))


def test_hill_climb_improves_over_start():
    for seed in range(3):
        results = run(HillClimb(wide_space(), seed=seed), wide_objective, 80, pending=2)
        start = results[0][1][0]
        best = max(v[0] for _, v in results)
        assert best > start + 5, (seed, start, best)


def test_pareto_front_matches_brute_force():
    rng = random.Random(0)
    for trial in range(30):
        dirs = rng.choice([("maximize", "minimize"), ("minimize", "minimize", "maximize")])
        pts = [tuple(rng.randint(0, 6) for _ in dirs) for _ in range(rng.randint(1, 40))]
        sign = [1 if d == "maximize" else -1 for d in dirs]

        def better_eq(a, b, sign=sign):
            return all(s * x >= s * y for s, x, y in zip(sign, a, b, strict=True)) and a != b

        expected = [i for i, p in enumerate(pts) if not any(better_eq(q, p) for q in pts)]
        assert pareto_front(pts, dirs) == expected, trial
        fronts = non_dominated_sort(pts, dirs)
        assert fronts[0] == expected
        assert sorted(itertools.chain(*fronts)) == list(range(len(pts)))
    assert pareto_front([(1.0, 1.0), (1.0, 1.0), (0.0, 2.0)], ("maximize", "minimize")) == [0, 1]
    assert pareto_front([(math.nan, 0.0), (0.0, 0.0)], ("maximize", "maximize")) == [1]
    with pytest.raises(ValueError, match="directions"):
        pareto_front([(1.0, 2.0)], ("maximize",))
    with pytest.raises(ValueError, match="upward"):
        pareto_front([(1.0,)], ("upward",))


def test_crowding_and_survival():
    pts = [(0.0, 4.0), (1.0, 3.0), (1.1, 2.9), (3.0, 1.0), (4.0, 0.0), (5.0, 5.0)]
    dirs = ("minimize", "minimize")
    dist = crowding_distance(pts, [0, 1, 2, 3, 4], dirs)
    assert math.isinf(dist[0]) and math.isinf(dist[4])
    assert dist[1] < dist[3] and dist[2] < dist[3]
    # Dominated (5,5) goes first, then the most crowded of the front.
    assert nsga2_survivors(pts, dirs, 5) == [0, 1, 2, 3, 4]
    assert len(set(nsga2_survivors(pts, dirs, 4)) & {1, 2}) == 1
    assert dominates(oriented((0, 0), dirs), oriented((1, 0), dirs))
    assert hypervolume_2d([(1.0, 1.0)], dirs, (2.0, 3.0)) == pytest.approx(2.0)
    assert hypervolume_2d([(1.0, 2.0), (2.0, 1.0)], dirs, (3.0, 3.0)) == pytest.approx(3.0)


def test_nsga2_front_non_dominated_and_beats_random_hypervolume():
    dirs, ref = ("minimize", "minimize"), (1.1, 11.0)
    hv_nsga, hv_rand = [], []
    for seed in range(3):
        searcher = NSGA2(zdt_space(), dirs, seed=seed, population_size=16)
        results = run(searcher, zdt_objectives, 150)
        front = searcher.front()
        values = [m.values for m in front]
        assert pareto_front(values, dirs) == list(range(len(values)))
        assert all(
            not dominates(oriented(v, dirs), oriented(m.values, dirs))
            for m in front
            for _, v in results
        )
        hv_nsga.append(hypervolume_2d([v for _, v in results], dirs, ref))
        rand = run(RandomSearch(zdt_space(), dirs, seed=seed), zdt_objectives, 150)
        hv_rand.append(hypervolume_2d([v for _, v in rand], dirs, ref))
    assert statistics.median(hv_nsga) > statistics.median(hv_rand), (hv_nsga, hv_rand)


def history_of(results, pending):
    return [(p, Feedback("COMPLETE", v)) for p, v in results] + [(p, None) for p in pending]


@pytest.mark.parametrize("cls", [RegularizedEvolution, NSGA2])
def test_restore_continues_init_phase_without_repeats(cls):
    dirs = ("maximize",) if cls is RegularizedEvolution else ("maximize", "minimize")

    def objective(c):
        v = xyz_objective(c)
        return (v,) if len(dirs) == 1 else (v, float(c.x))

    before = cls(xyz_space(), dirs, seed=5, population_size=10)
    asked = [before.ask(i) for i in range(7)]
    results = [(p, objective(p.candidate)) for p in asked[:6]]
    for p, v in results:
        before.tell(p, Feedback("COMPLETE", v))
    after = cls(xyz_space(), dirs, seed=5, population_size=10)
    after.restore(history_of(results, asked[6:]))
    assert [m.number for m in after.population] == [m.number for m in before.population]
    assert after.num_asked == 7
    new = [after.ask(7 + i) for i in range(5)]
    assert [bool(p.parents) for p in new] == [False] * 3 + [True] * 2  # 10 - 7 randoms left.
    old_keys = {dna_key(p.dna) for p in asked}
    assert not old_keys & {dna_key(p.dna) for p in new}  # No replay of the seeded stream.


def test_restore_population_matches_uninterrupted_run():
    before = RegularizedEvolution(wide_space(), seed=2, population_size=8, tournament_size=3)
    results = run(before, wide_objective, 30, pending=1)
    after = RegularizedEvolution(wide_space(), seed=2, population_size=8, tournament_size=3)
    after.restore(history_of(results, []))
    assert [m.number for m in after.population] == [m.number for m in before.population]
    assert [m.fitness for m in after.population] == [m.fitness for m in before.population]
    assert after.ask(30).parents  # Straight back to evolving.

    climber = HillClimb(wide_space(), seed=4, batch=3)
    climbed = run(climber, wide_objective, 20, pending=2)
    resumed = HillClimb(wide_space(), seed=4, batch=3)
    resumed.restore(history_of(climbed, []))
    assert resumed.best == climber.best and resumed.ask(20).parents == (climber.best.number,)


@pytest.mark.parametrize("factory", ALL, ids=["random", "evolution", "hill_climb", "nsga2"])
def test_warm_start_is_served_first_and_booked(factory):
    """The study's queue serves warm starts before asking; the searcher books them like asks."""
    space = xyz_space()
    searcher = factory(space, 0)
    queue = WarmStartQueue(space)
    for dna in [pg.DNA([1, 2, 0.5]), [3, 4, -0.5]]:
        push(queue, dna)
    first, second = (next_proposal(queue, searcher, i) for i in range(2))
    assert first.dna == pg.DNA([1, 2, 0.5]) and second.dna == pg.DNA([3, 4, -0.5])
    assert (first.candidate.x, first.candidate.y) == (1, 2)
    assert first.parents == () and first.mutation is None
    assert searcher.num_asked == 2  # served proposals count toward a random phase
    asked = next_proposal(queue, searcher, 2)  # the queue is empty: the searcher is asked
    assert dna_key(asked.dna) not in {dna_key(first.dna), dna_key(second.dna)}
    with pytest.raises(ValueError, match="not a candidate"):
        push(queue, pg.DNA([99, 0, 0.0]))


def test_restored_warm_start_is_not_proposed_again():
    space = Space(pg.Dict(a=pg.oneof(range(3)), b=pg.oneof(range(2))))
    queue = WarmStartQueue(space)
    push(queue, pg.DNA([1, 1]))
    done = RandomSearch(space, seed=0)
    p = next_proposal(queue, done, 0)
    searcher = RandomSearch(space, seed=0)
    searcher.restore([(p, Feedback("COMPLETE", (1.0,)))])
    assert searcher.num_asked == 1
    keys = [dna_key(searcher.ask(1 + i).dna) for i in range(5)]
    assert len(set(keys)) == 5 and dna_key(p.dna) not in keys


def test_composed_parts_select_mutate_and_dedup():
    """`RandomK >> TopK` is a tournament; `Deduped` draws again while the DNA is booked."""
    members = [Member(i, pg.DNA(i), (float(i),), float(i)) for i in range(10)]
    ctx = RandomSearch(Space(pg.Dict(a=pg.oneof(range(3)))), seed=0)
    tournament = RandomK(10) >> TopK(1)
    assert [m.number for m in tournament(members, ctx)] == [9]
    assert repr(tournament >> Deduped(Mutate())) == "RandomK(10) >> TopK(1) >> Deduped(Mutate())"
    for seed in range(20):  # same pick as tournament_select with the same stream
        ctx.rng, rng = random.Random(seed), random.Random(seed)
        assert (RandomK(3) >> TopK(1))(members, ctx)[0] == tournament_select(members, 3, rng)
    ctx.rng = random.Random(0)
    for number in range(3):
        ctx.propose(number, Deduped(RandomDNA())(None, ctx).dna)
    assert len(ctx.book.seen) == 3 and ctx.book.exhausted()
    assert Deduped(RandomDNA(), tries=2)(None, ctx).dna in [pg.DNA(i) for i in range(3)]


class Truncation(Evolution):
    """A new evolutionary algorithm in a few lines: a random parent among the 3 fittest."""

    def __init__(self, space, directions=("maximize",), seed=0):
        super().__init__(
            space,
            directions,
            seed,
            reproduce=TopK(3) >> RandomK(1) >> Deduped(Mutate()),
            population=KeepLast(8),
            warmup=8,
        )


def test_a_new_algorithm_is_a_short_composition():
    searcher = Truncation(xyz_space(), seed=1)
    results = []
    for number in range(40):
        fittest = sorted(searcher.population, key=lambda m: -m.fitness)[:3]
        p = searcher.ask(number)
        if number >= 8:  # each parent is one of the 3 fittest members when it is asked
            assert p.parents and p.mutation and p.parents[0] in {m.number for m in fittest}
        v = (xyz_objective(p.candidate),)
        searcher.tell(p, Feedback("COMPLETE", v))
        results.append((p, v))
    assert len({dna_key(p.dna) for p, _ in results}) == 40  # deduped against every booked DNA
    resumed = Truncation(xyz_space(), seed=1)
    resumed.restore([(p, Feedback("COMPLETE", v)) for p, v in results])
    assert [m.number for m in resumed.population] == [m.number for m in searcher.population]


def test_make_searcher_names_and_errors():
    assert {"random", "regularized_evolution", "evolution", "nsga2", "hill_climb"} <= set(
        searcher_names()
    )
    evo = make_searcher("evolution", xyz_space(), ("maximize",), 1, population_size=4)
    assert isinstance(evo, RegularizedEvolution) and evo.population_size == 4
    assert isinstance(make_searcher("nsga2", xyz_space(), ("maximize", "minimize")), NSGA2)
    with pytest.raises(ValueError, match="'no_such_searcher'") as err:
        make_searcher("no_such_searcher", xyz_space())
    assert "regularized_evolution" in str(err.value)
    with pytest.raises(ValueError, match="bogus"):
        make_searcher("random", xyz_space(), bogus=1)
    ref = make_searcher("hashtune.search.hill_climb:HillClimb", xyz_space(), batch=3)
    assert isinstance(ref, HillClimb) and ref.batch == 3


def test_register_searcher_decorator():
    @register_searcher("test_only_random")
    class Mine(RandomSearch):
        name = "test_only_random"

    assert isinstance(make_searcher("test_only_random", xyz_space()), Mine)
    with pytest.raises(ValueError, match="already registered"):
        register_searcher("random")(Mine)


def test_constructor_validation():
    with pytest.raises(ValueError, match="population_size"):
        RegularizedEvolution(xyz_space(), population_size=0)
    with pytest.raises(ValueError, match="mutation_rate"):
        RegularizedEvolution(xyz_space(), mutation_rate=1.5)
    with pytest.raises(ValueError, match="batch"):
        HillClimb(xyz_space(), batch=0)
    searcher = NSGA2(xyz_space(), ("maximize", "minimize"))
    with pytest.raises(ValueError, match="objectives"):
        searcher.tell(searcher.ask(0), Feedback("COMPLETE", (1.0,)))


def test_chained_mutations_are_named():
    searcher = RegularizedEvolution(
        xyz_space(), seed=0, population_size=2, tournament_size=2, mutation_rate=0.5
    )
    results = run(searcher, xyz_objective, 12, pending=1)
    names = [p.mutation for p, _ in results if p.mutation]
    assert any("+" in n for n in names) and all(
        set(n.split("+")) == {"uniform_point"} for n in names
    )
