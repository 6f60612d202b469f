"""hashtune: AutoML and program search on PyGlove spaces, with functional hashing and a SQL store.

The public API is what this module exports; everything else may change. Names are imported on
first use, so `import hashtune.hashing` (e.g. on a GPU box) does not pull in the store or the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "DEFAULT_STORAGE": "hashtune.study",
    "CacheConfig": "hashtune.hashing.cache_policy",
    "Component": "hashtune.registry",
    "EvaluationResult": "hashtune.evaluators.base",
    "Evaluator": "hashtune.evaluators.base",
    "FunctionEvaluator": "hashtune.evaluators.base",
    "Space": "hashtune.spaces.base",
    "Study": "hashtune.study",
    "StudyView": "hashtune.view",
    "AskedTrial": "hashtune.ask_tell",
    "TrialContext": "hashtune.evaluators.base",
    "TrialFailedError": "hashtune.failures",
    "UndigestableWarning": "hashtune.evaluators.fingerprint",
    "UnrecordedOptunaObjectWarning": "hashtune.optuna_compat",
    "create_study": "hashtune.aliases",
    "load_study": "hashtune.aliases",
    "register_evaluator": "hashtune.evaluators.registry",
    "register_searcher": "hashtune.search.registry",
    "register_space": "hashtune.space_registry",
}

__all__ = [
    "DEFAULT_STORAGE",
    "AskedTrial",
    "CacheConfig",
    "Component",
    "EvaluationResult",
    "Evaluator",
    "FunctionEvaluator",
    "Space",
    "Study",
    "StudyView",
    "TrialContext",
    "TrialFailedError",
    "UndigestableWarning",
    "UnrecordedOptunaObjectWarning",
    "create_study",
    "load_study",
    "register_evaluator",
    "register_searcher",
    "register_space",
]
assert sorted(__all__) == sorted(_EXPORTS)

if TYPE_CHECKING:
    from hashtune.aliases import create_study, load_study
    from hashtune.ask_tell import AskedTrial
    from hashtune.evaluators.base import (
        EvaluationResult,
        Evaluator,
        FunctionEvaluator,
        TrialContext,
    )
    from hashtune.evaluators.fingerprint import UndigestableWarning
    from hashtune.evaluators.registry import register_evaluator
    from hashtune.failures import TrialFailedError
    from hashtune.hashing.cache_policy import CacheConfig
    from hashtune.optuna_compat import UnrecordedOptunaObjectWarning
    from hashtune.registry import Component
    from hashtune.search.registry import register_searcher
    from hashtune.space_registry import register_space
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
