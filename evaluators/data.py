"""Seeded, stratified, standardised train/validation splits of scikit-learn's bundled `digits`.

Shared by the digits evaluators so that equal (seed, val_fraction) always mean the same task. The
split is cached in-process; the returned arrays are read-only so no caller can corrupt the cache.
"""

from __future__ import annotations

import functools

import numpy as np

#: Name recorded in evaluator configs (part of the task fingerprint).
DIGITS_DATASET = "sklearn.datasets.load_digits"
NUM_CLASSES = 10
NUM_FEATURES = 64


@functools.lru_cache(maxsize=16)
def _split(seed: int, val_fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The flat split for (seed, val_fraction), standardised with the training statistics."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = data.data.astype(np.float64)
    y = data.target.astype(np.int32)
    x_tr, x_va, y_tr, y_va = train_test_split(
        x, y, test_size=val_fraction, random_state=seed, stratify=y
    )
    mean = x_tr.mean(axis=0)
    std = x_tr.std(axis=0)
    std = np.where(std > 1e-8, std, 1.0)  # some border pixels are always 0 in the training set
    out = (
        ((x_tr - mean) / std).astype(np.float32),
        y_tr,
        ((x_va - mean) / std).astype(np.float32),
        y_va,
    )
    for a in out:
        a.setflags(write=False)
    return out


def load_digits_split(
    seed: int, val_fraction: float = 0.25, flat: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_val, y_val) of `digits`, stratified by class and standardised.

    `flat=True` gives x of shape (n, 64) float32; `flat=False` gives images (n, 8, 8, 1) (NHWC).
    Labels are int32 in 0..9. Standardisation uses per-pixel mean/std of the training part only.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"`seed` must be an int, got {seed!r}")
    if not 0.0 < float(val_fraction) < 1.0:
        raise ValueError(f"`val_fraction` must be in (0, 1), got {val_fraction!r}")
    x_tr, y_tr, x_va, y_va = _split(int(seed), float(val_fraction))
    if not flat:
        x_tr = x_tr.reshape(-1, 8, 8, 1)
        x_va = x_va.reshape(-1, 8, 8, 1)
    return x_tr, y_tr, x_va, y_va
