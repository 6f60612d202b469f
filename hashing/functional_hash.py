"""The unified functional hash: run a candidate on fixed probes, quantise what it computes, SHA-256.

One algorithm for every representation (Gillard et al. 2023, "Unified Functional Hashing in
Automatic Machine Learning"): a candidate with `.executable()` (or an `Executable`) is called as
`fn(content_param_fn, *inputs)`; a plain callable over `jax.numpy` as `fn(*inputs)` with the
`Probe` the caller passes. Everything runs in float64 on `Probe.num_batches` independent seeded
probe batches (vmapped when the function allows it, else one batch at a time); the output pytree's
leaves are quantised (see `quantise`; each batch flushed on its own scale, batches being magnitude
regimes) and digested together with their shapes, dtype kinds and `HASH_VERSION`.

`functional_hashes` hashes many candidates: executables that expose a batched form
(`meta["batched"] = (batched_fn, data)`, see `BATCHED_META_KEY`) are grouped by (batched_fn,
probe, data shapes) and hashed with one `jax.jit`-compiled call, vmapped over candidates and probe
batches, per chunk of candidates; all others run eagerly one by one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

# JAX is imported by the functions that run it: importing hashtune (the CLI, a worker, a study on a
# space without an executable form) does not pay for it.
from hashtune.hashing.params import content_param_fn
from hashtune.hashing.probe import Probe
from hashtune.hashing.quantise import DEFAULT_DIGITS, DEFAULT_FLUSH, quantise
from hashtune.spaces.base import BATCHED_META_KEY, Executable

#: Hex characters of the returned digest.
HASH_CHARS = 32
#: Version of the hash algorithm, digested into every hash (and part of every cache key): bump it
#: whenever a change alters digests (probes, quantisation, parameter rule), so entries stored
#: under an older version are never matched. v3: log-scale probes across magnitudes, per-batch
#: flush. v4: optimizer programs' dead state (never read by the update, directly or through live
#: state) is passed through, so programs differing only there hash alike.
HASH_VERSION = "v4"
#: `BATCHED_META_KEY` (spaces.base) names the batched form: `(batched_fn, data)`, where
#: `batched_fn(param_fn, data, *inputs)` equals `fn(param_fn, *inputs)`, `data` is a pytree of
#: arrays (e.g. op indices). Executables sharing `batched_fn` (the same object) and data shapes are
#: hashed together: jitted once and vmapped over their stacked `data`. Float data must be exact
#: (numpy float64, or values float32 represents exactly): jax arrays made outside float64 mode are
#: float32 and would hash a slightly different function than the eager form.
#: Candidates per compiled call of the batched path (padded, so one compile per group).
CHUNK = 512


def _resolve(candidate: Any, probe: Probe | None) -> tuple[Callable[..., Any], Probe, Any, Any]:
    """(fn(param_fn, *inputs), probe, static_key, batched) for any supported representation."""
    exe = candidate.executable() if hasattr(candidate, "executable") else candidate
    if isinstance(exe, Executable):
        if not exe.inputs:
            raise ValueError(
                f"`Executable.inputs` must describe the probe inputs, got {exe.inputs!r}"
            )
        p = probe.with_specs(exe.inputs) if probe is not None else Probe.from_specs(exe.inputs)
        batched = (exe.meta or {}).get(BATCHED_META_KEY)
        return exe.fn, p, exe.static_key, batched
    if callable(candidate):
        if probe is None:
            raise ValueError(
                f"`probe` is required to hash a plain callable (shapes of its inputs), got None "
                f"for {candidate!r}"
            )
        return (lambda _param_fn, *xs: candidate(*xs)), probe, None, None
    raise ValueError(
        f"`candidate` must have .executable(), be an Executable or a callable, got {candidate!r}"
    )


def output_digest(
    leaves: Sequence[np.ndarray], digits: int = DEFAULT_DIGITS, flush: float = DEFAULT_FLUSH
) -> str:
    """SHA-256 of the quantised output leaves (each with a leading probe-batch axis) and shapes.

    Each batch is flushed against its own largest magnitude (batches are magnitude regimes).
    """
    return output_digests([np.asarray(leaf)[None] for leaf in leaves], digits, flush)[0]


def output_digests(
    leaves: Sequence[np.ndarray], digits: int = DEFAULT_DIGITS, flush: float = DEFAULT_FLUSH
) -> list[str]:
    """`output_digest` of many candidates at once: leaves carry a leading candidate axis.

    Quantised in one numpy pass per leaf (the flush scale is still per candidate and batch), so
    the digests equal the one-at-a-time ones.
    """
    arrs = [np.asarray(leaf) for leaf in leaves]
    n = arrs[0].shape[0] if arrs else 0
    head = f"hashtune-ufh-{HASH_VERSION}|digits={digits}|flush={flush}|leaves={len(arrs)}"
    parts = []
    for arr in arrs:
        exp, man = quantise(arr, digits, flush, axis=tuple(range(2, arr.ndim)))
        tag = f"|{arr.dtype.kind}{arr.shape[1:]}".encode()
        parts.append((tag, exp.astype("<i8"), man.astype("<i8")))
    out = []
    for i in range(n):
        h = hashlib.sha256(head.encode())
        for tag, exp, man in parts:
            h.update(tag)
            h.update(exp[i].tobytes())
            h.update(man[i].tobytes())
        out.append(h.hexdigest()[:HASH_CHARS])
    return out


def _run_eager(fn: Callable[..., Any], probe: Probe) -> list[np.ndarray]:
    """Output leaves (leading axis: probe batch), vmapped over batches if `fn` allows it."""
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        inputs = [jnp.asarray(a) for a in probe.stacked]
        try:
            out = jax.vmap(lambda *xs: fn(content_param_fn, *xs))(*inputs)
            return [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(out)]
        except (jax.errors.ConcretizationTypeError, jax.errors.TracerBoolConversionError):
            pass  # value-dependent Python control flow: run the batches one at a time
        outs = []
        for b in range(probe.num_batches):
            res = fn(content_param_fn, *(jnp.asarray(a) for a in probe.batch(b)))
            outs.append([np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(res)])
    return [np.stack(parts) for parts in zip(*outs, strict=True)]


def functional_hash(
    candidate_or_fn: Any,
    probe: Probe | None = None,
    digits: int = DEFAULT_DIGITS,
    flush: float = DEFAULT_FLUSH,
) -> str:
    """Hex digest of what the candidate computes on the probe; equal functions hash equal.

    `probe` is required for plain callables; for executables only its batch count and seed are used.
    """
    fn, p, _, batched = _resolve(candidate_or_fn, probe)
    if batched is not None:  # the compiled batched form: same digest, far faster than eager ops
        batched_fn, data = batched
        return output_digests(_run_batched(batched_fn, [data], p, 1), digits, flush)[0]
    return output_digest(_run_eager(fn, p), digits, flush)


@lru_cache(maxsize=64)
def _compiled(batched_fn: Callable[..., Any], n_in: int) -> Callable[..., Any]:
    """jit(vmap over candidates' data of vmap over probe batches) of one batched form."""
    import jax

    def one(data: Any, *xs: Any) -> Any:
        return batched_fn(content_param_fn, data, *xs)

    over_batches = jax.vmap(one, in_axes=(None,) + (0,) * n_in)
    return jax.jit(jax.vmap(over_batches, in_axes=(0,) + (None,) * n_in))


def _run_batched(
    batched_fn: Callable[..., Any], datas: list[Any], probe: Probe, chunk: int
) -> list[np.ndarray]:
    """Output leaves of every candidate of one group (leading candidate axis), `chunk` per call.

    The candidates' data are stacked with numpy (one host-to-device copy per leaf and chunk).
    """
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        inputs = [jnp.asarray(a) for a in probe.stacked]
        call = _compiled(batched_fn, len(inputs))
        flat = [jax.tree_util.tree_flatten(d)[0] for d in datas]
        treedef = jax.tree_util.tree_structure(datas[0])
        chunks: list[list[np.ndarray]] = []
        for start in range(0, len(datas), chunk):
            part = flat[start : start + chunk]
            padded = part + [part[-1]] * (chunk - len(part))
            stacked = [np.stack(xs) for xs in zip(*padded, strict=True)]
            res = call(jax.tree_util.tree_unflatten(treedef, stacked), *inputs)
            chunks.append([np.asarray(x)[: len(part)] for x in jax.tree_util.tree_leaves(res)])
    return [np.concatenate(xs) for xs in zip(*chunks, strict=True)]


def functional_hashes(
    candidates: Sequence[Any],
    probe: Probe | None = None,
    digits: int = DEFAULT_DIGITS,
    flush: float = DEFAULT_FLUSH,
    chunk: int = CHUNK,
) -> list[str]:
    """`functional_hash` of each candidate, batched: same results, far fewer Python dispatches.

    Candidates exposing `hash_form()` (e.g. `SlotProgram`) give their batched form directly, which
    skips building an `Executable` per candidate.
    """
    import jax

    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"`chunk` must be an int >= 1, got {chunk!r}")
    out: list[str | None] = [None] * len(candidates)
    groups: dict[Any, list[tuple[int, Any]]] = {}
    for i, cand in enumerate(candidates):
        if hasattr(cand, "hash_form") and probe is None:
            batched_fn, data, specs = cand.hash_form()
            p = _probe_of(specs)
        else:
            fn, p, _, batched = _resolve(cand, probe)
            if batched is None:
                out[i] = output_digest(_run_eager(fn, p), digits, flush)
                continue
            batched_fn, data = batched
        leaves, treedef = jax.tree_util.tree_flatten(data)
        sig = (treedef, tuple((np.shape(x), np.asarray(x).dtype.str) for x in leaves))
        groups.setdefault((id(batched_fn), p.signature, sig), []).append((i, (batched_fn, data, p)))
    for members in groups.values():
        batched_fn, _, p = members[0][1]
        size = min(chunk, 1 << (len(members) - 1).bit_length())  # powers of 2: few compiles
        leaves = _run_batched(batched_fn, [m[1][1] for m in members], p, size)
        for (i, _), digest in zip(members, output_digests(leaves, digits, flush), strict=True):
            out[i] = digest
    return [h for h in out if h is not None]


@lru_cache(maxsize=64)
def _probe_of(specs: tuple[Any, ...]) -> Probe:
    """The default probe of `specs` (cached: candidates of one space share their input specs)."""
    return Probe.from_specs(specs)
