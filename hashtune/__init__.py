"""hashtune: AutoML and program search on PyGlove spaces, with functional hashing and a SQL store.

The public API is what this module exports; everything else may change.
"""

from hashtune.equivalence_cache import CacheConfig
from hashtune.evaluators.base import EvaluationResult, Evaluator, FunctionEvaluator, TrialContext
from hashtune.registry import register_evaluator, register_space
from hashtune.search.registry import register_searcher
from hashtune.spaces.base import Space
from hashtune.study import DEFAULT_STORAGE, Study
from hashtune.view import StudyView

__all__ = [
    "DEFAULT_STORAGE",
    "CacheConfig",
    "EvaluationResult",
    "Evaluator",
    "FunctionEvaluator",
    "Space",
    "Study",
    "StudyView",
    "TrialContext",
    "register_evaluator",
    "register_searcher",
    "register_space",
]
