"""Unified functional hashing: equal functions get equal hashes, whatever their representation."""

from hashtune.hashing.functional_hash import (
    BATCHED_META_KEY,
    HASH_CHARS,
    HASH_VERSION,
    functional_hash,
    functional_hashes,
    output_digest,
    output_digests,
)
from hashtune.hashing.params import content_param_fn
from hashtune.hashing.probe import Probe
from hashtune.hashing.quantise import DEFAULT_DIGITS, DEFAULT_FLUSH, quantise

__all__ = [
    "BATCHED_META_KEY",
    "DEFAULT_DIGITS",
    "DEFAULT_FLUSH",
    "HASH_CHARS",
    "HASH_VERSION",
    "Probe",
    "content_param_fn",
    "functional_hash",
    "functional_hashes",
    "output_digest",
    "output_digests",
    "quantise",
]
