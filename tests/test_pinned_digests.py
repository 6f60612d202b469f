"""Pinned functional-hash digests: a change that silently orphans every stored cache entry fails.

The cache is keyed by these digests. If a change to probes, quantisation, the parameter rule or a
space's executable form moves them, entries stored by earlier runs are never matched again, so
the change must say so: bump `HASH_VERSION` (hashing/functional_hash.py) and pin the new digests.
"""

from __future__ import annotations

import jax.numpy as jnp
import pyglove as pg
import pytest

from hashtune.hashing import HASH_VERSION, Probe, functional_hash
from hashtune.hashing.cache_policy import candidate_hash
from hashtune.spaces.mlp import MLPConfig
from hashtune.spaces.nas_bench_201 import cell_from_string
from hashtune.spaces.optimizers import ADAM, LION, Program

CELL_A = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
CELL_B = "|skip_connect~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|none~2|"


def _candidates() -> dict:
    """name -> zero-argument function computing the digest the cache would key on."""
    mlp = MLPConfig(
        hidden=[32, 16], activation="tanh", learning_rate=1e-3, weight_decay=1e-4, batch_size=64
    )
    symbolic = pg.Dict(model="ridge", alpha=0.5, features=["a", "b"])
    probe = Probe(shapes=[(16,), (16,)])
    return {
        "nb201_cell_a": lambda: candidate_hash(cell_from_string(CELL_A)),
        "nb201_cell_b": lambda: candidate_hash(cell_from_string(CELL_B)),
        "program_adam": lambda: candidate_hash(Program.from_source(ADAM)),
        "program_lion": lambda: candidate_hash(Program.from_source(LION)),
        "mlp_tanh_32_16": lambda: candidate_hash(mlp),
        "symbolic_dict": lambda: candidate_hash(symbolic),
        "callable": lambda: functional_hash(lambda a, b: jnp.tanh(a) * b + 0.5, probe),
    }


#: HASH_VERSION -> candidate -> digest.
PINNED: dict[str, dict[str, str]] = {
    "v3": {
        "nb201_cell_a": "97be738208a4f394f67d6d67fa37a0a0",
        "nb201_cell_b": "fbba16756e35af95fb8c844b954ce9dd",
        "program_adam": "c88788ae472c379395deedec982b9118",
        "program_lion": "40f7f9919da7ba50b745efa360cbb9df",
        "mlp_tanh_32_16": "2eee667d843b59d6df67377cb267b945",
        "symbolic_dict": "sym-5090d7cce78470ae2e6f4a28420a",
        "callable": "81e6a01a2cb8b36a6dcb6ce7981ab542",
    },
    # v4: optimizer programs' dead state passed through (Adam's and Lion's state is all live:
    # their v3 digests are unchanged under v3's head; only the version in the head moved these)
    "v4": {
        "nb201_cell_a": "75714aaadb41ebb3c3e70b2fdf12b4bb",
        "nb201_cell_b": "863890218594fa90da08e3b842cd84ba",
        "program_adam": "4535c16216d1478d6493d55380d77e91",
        "program_lion": "3ed7b17728d0a774642fb1ebdf804452",
        "mlp_tanh_32_16": "cdde9813ce60c87bb2b243d0cb5a1e83",
        "symbolic_dict": "sym-5090d7cce78470ae2e6f4a28420a",
        "callable": "d8bb71c617e7e3a30deb0e7f173e15ee",
    },
}


def test_hash_version_has_pinned_digests() -> None:
    assert HASH_VERSION in PINNED, (
        f"HASH_VERSION {HASH_VERSION!r} has no pinned digests: add PINNED[{HASH_VERSION!r}] to "
        f"{__file__} (the values test_pinned_digests prints)"
    )


@pytest.mark.parametrize("name", sorted(_candidates()))
def test_pinned_digests(name: str) -> None:
    pinned = PINNED.get(HASH_VERSION, {})
    digest = _candidates()[name]()
    assert digest == pinned.get(name), (
        f"the digest of {name!r} changed ({pinned.get(name)} -> {digest}) under HASH_VERSION "
        f"{HASH_VERSION!r}: every cache entry stored under the old digests would be silently "
        f"orphaned. If the change is intended, bump HASH_VERSION in hashing/functional_hash.py "
        f"and pin the new digests in tests/test_pinned_digests.py."
    )
