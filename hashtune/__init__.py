"""hashtune: AutoML and program search on PyGlove spaces, with functional hashing and a SQL store.

The public API is what this module exports; everything else may change. Names are imported on
first use, so `import hashtune.hashing` (e.g. on a GPU box) does not pull in the store or the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "DEFAULT_STORAGE": "hashtune.study",
    "CacheConfig": "hashtune.equivalence_cache",
    "EvaluationResult": "hashtune.evaluators.base",
    "Evaluator": "hashtune.evaluators.base",
    "FunctionEvaluator": "hashtune.evaluators.base",
    "Space": "hashtune.spaces.base",
    "Study": "hashtune.study",
    "StudyView": "hashtune.view",
    "TrialContext": "hashtune.evaluators.base",
    "UndigestableWarning": "hashtune.evaluators.fingerprint",
    "register_evaluator": "hashtune.registry",
    "register_searcher": "hashtune.search.registry",
    "register_space": "hashtune.registry",
}

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
    "UndigestableWarning",
    "register_evaluator",
    "register_searcher",
    "register_space",
]
assert sorted(__all__) == sorted(_EXPORTS)

if TYPE_CHECKING:
    from hashtune.equivalence_cache import CacheConfig
    from hashtune.evaluators.base import (
        EvaluationResult,
        Evaluator,
        FunctionEvaluator,
        TrialContext,
    )
    from hashtune.evaluators.fingerprint import UndigestableWarning
    from hashtune.registry import register_evaluator, register_space
    from hashtune.search.registry import register_searcher
    from hashtune.spaces.base import Space
    from hashtune.study import DEFAULT_STORAGE, Study
    from hashtune.view import StudyView


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hashtune' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
