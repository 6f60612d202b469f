"""Makes `hashtune` importable from a bare checkout (the GPU box has JAX but no install)."""

from __future__ import annotations

import sys
from pathlib import Path


def ensure_hashtune() -> None:
    """Import `hashtune.spaces` from the installed package, else from this checkout's folders."""
    try:
        import hashtune.spaces  # noqa: F401
    except ImportError:
        root = Path(__file__).resolve().parent.parent
        sys.path.insert(0, str(root))
        import hashtune

        hashtune.__path__.append(str(root))  # hashtune.spaces -> spaces/, hashtune.hashing -> ...
