"""Searchers behind one ask/tell interface, and the registry experiment files name them by."""

from hashtune.search.base import Feedback, Proposal, Searcher
from hashtune.search.hill_climb import HillClimb
from hashtune.search.nsga2 import NSGA2
from hashtune.search.random_search import RandomSearch
from hashtune.search.registry import make_searcher, register_searcher, searcher_names
from hashtune.search.regularized_evolution import RegularizedEvolution
from hashtune.search.selection import Member, pareto_front

__all__ = [
    "NSGA2",
    "Feedback",
    "HillClimb",
    "Member",
    "Proposal",
    "RandomSearch",
    "RegularizedEvolution",
    "Searcher",
    "make_searcher",
    "pareto_front",
    "register_searcher",
    "searcher_names",
]
