"""Task fingerprints: a content digest of everything an evaluator's scores depend on.

Values are digested by content, never by `repr`: numbers and strings by value, containers item by
item, arrays (numpy, JAX, torch, pandas) by their full bytes, user functions by their code plus
every global, closure cell and default they read (recursively through the user functions and
classes they reach), other objects by what pickling would save (`__reduce_ex__`). Installed
library code (the standard library, site-packages) is identified by module name and package
version. A value that cannot be digested (a lock, a socket, a generator) is listed in
`TaskFingerprint.undigestable`; the study then keeps its cache to itself.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import platform
import sys
import sysconfig
import types
from dataclasses import dataclass
from typing import Any

#: Hex characters of a task fingerprint.
FINGERPRINT_CHARS = 32

_PRIMITIVES = (type(None), bool, int, float, complex, str, bytes, type(Ellipsis))
#: Class attributes that are bookkeeping, not behaviour (or hold undigestable interpreter state).
_CLASS_SKIP = frozenset(
    {
        "__dict__",
        "__weakref__",
        "__module__",
        "__doc__",
        "__qualname__",
        "__annotations__",
        "__annotate_func__",
        "__firstlineno__",
        "__static_attributes__",
        "__abstractmethods__",
        "_abc_impl",
        "__parameters__",
        "__orig_bases__",
        "__slotnames__",  # cached on the class by copyreg the first time an instance is pickled
    }
)


class UndigestableWarning(UserWarning):
    """A value a score may depend on could not be digested: the cache is scoped to one study."""


@dataclass(frozen=True)
class Undigestable:
    """Where the value sits (`path`) and why it could not be digested."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path} ({self.reason})"


@dataclass(frozen=True)
class TaskFingerprint:
    """The digest, and the values it could not cover (each replaced by its type in the digest)."""

    digest: str
    undigestable: tuple[Undigestable, ...] = ()


def evaluator_fingerprint(evaluator: Any) -> TaskFingerprint:
    """Digest an evaluator's class, objectives, `config()` and instance attributes by content.

    Attributes named in the class's `fingerprint_ignores` (lazy caches derived from the others)
    are left out.
    """
    ignored = set(getattr(type(evaluator), "fingerprint_ignores", ()))
    attrs = {k: v for k, v in vars(evaluator).items() if k not in ignored}
    digester = _Digester()
    parts = [
        digester.digest(type(evaluator), "evaluator class"),
        digester.digest(tuple(evaluator.objectives), "evaluator.objectives"),
        digester.digest(evaluator.config(), "evaluator.config()"),
        digester.attributes(attrs, "evaluator"),
    ]
    return TaskFingerprint(_join(b"evaluator", *parts)[:FINGERPRINT_CHARS], digester.missing())


def content_fingerprint(value: Any, name: str = "value") -> TaskFingerprint:
    """Digest any value by content (`name` starts the paths of undigestable parts)."""
    digester = _Digester()
    digest = digester.digest(value, name)
    return TaskFingerprint(digest[:FINGERPRINT_CHARS], digester.missing())


def _join(tag: bytes, *parts: str | bytes | memoryview) -> str:
    """SHA-256 of a tag and length-prefixed parts (no two part lists collide)."""
    h = hashlib.sha256(tag)
    for p in parts:
        b = p.encode() if isinstance(p, str) else p
        h.update(len(b).to_bytes(8, "little"))  # bytes, or a memoryview cast to bytes
        h.update(b)
    return h.hexdigest()


@functools.cache
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    keys = ("stdlib", "platstdlib", "purelib", "platlib")
    roots = {os.path.realpath(paths[k]) for k in keys if k in paths}
    return tuple(r.rstrip(os.sep) + os.sep for r in roots)


@functools.cache
def library_version(module_name: str) -> str | None:
    """'dist==version' when `module_name` is installed library code, else None (user code).

    Library code is the standard library and whatever lives under site-packages; a project
    installed in editable mode, a script or a test module is user code and is digested by content.
    """
    top = module_name.partition(".")[0]
    path = getattr(sys.modules.get(module_name), "__file__", None)
    if path is not None and not os.path.realpath(path).startswith(_library_roots()):
        return None  # a file of the user's, whatever its name
    if top in sys.stdlib_module_names or top == "builtins":
        return f"python=={platform.python_version()}"
    return None if path is None else _package_version(top)


@functools.cache
def _package_version(top: str) -> str:
    """'dist==version' of the installed package providing the top-level module `top`."""
    try:  # the common case, fast: the distribution is named like the module (numpy, jax)
        return f"{top}=={importlib.metadata.version(top)}"
    except importlib.metadata.PackageNotFoundError:
        pass
    version = getattr(sys.modules.get(top), "__version__", None)
    if isinstance(version, str):
        return f"{top}=={version}"
    dists = sorted(importlib.metadata.packages_distributions().get(top) or [])  # a full scan
    versions = [f"{d}=={importlib.metadata.version(d)}" for d in dists]
    return ",".join(versions) or f"{top}==?"


def _code_names(code: types.CodeType) -> set[str]:
    """Global and attribute names a code object (and the code nested in it) may read."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


class _Digester:
    """One walk: memoised per object (shared values digested once, cycles cut)."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple[Any, str]] = {}
        self._active: set[int] = set()
        self._missing: dict[str, Undigestable] = {}

    def missing(self) -> tuple[Undigestable, ...]:
        return tuple(self._missing.values())

    def attributes(self, attrs: dict[str, Any], path: str) -> str:
        """Digest of an attribute dict, paths `path.name`."""
        items = sorted((k, self.digest(v, f"{path}.{k}")) for k, v in attrs.items())
        return _join(b"attrs", *(x for kv in items for x in kv))

    def digest(self, value: Any, path: str, names: frozenset[str] = frozenset()) -> str:
        """Content digest of `value`; `names` are the attribute names read off a module value."""
        if type(value) in _PRIMITIVES:
            return _join(b"prim", type(value).__name__, repr(value))
        key = id(value)
        if key in self._active:
            return _join(b"cycle", type(value).__qualname__)
        if key in self._memo and not isinstance(value, types.ModuleType):
            return self._memo[key][1]
        self._active.add(key)
        try:
            digest = self._dispatch(value, path, names)
        except RecursionError:
            digest = self._undigestable(value, path, "nested too deeply")
        except Exception as e:  # noqa: BLE001 - an odd object must not break the fingerprint
            digest = self._undigestable(value, path, f"{type(e).__name__}: {e}")
        finally:
            self._active.discard(key)
        self._memo[key] = (value, digest)  # keeps `value` alive so its id is not reused
        return digest

    def _undigestable(self, value: Any, path: str, reason: str) -> str:
        self._missing.setdefault(path, Undigestable(path, reason))
        return _join(b"undigestable", _type_name(value))

    def _dispatch(self, value: Any, path: str, names: frozenset[str]) -> str:
        t = type(value)
        if t in (list, tuple):
            if all(type(v) in _PRIMITIVES for v in value):
                return _join(b"seq", t.__name__, repr(value))
            parts = [self.digest(v, f"{path}[{i}]") for i, v in enumerate(value)]
            return _join(b"seq", t.__name__, *parts)
        if t is dict or t is types.MappingProxyType:
            items = sorted(
                (self.digest(k, f"{path} key"), self.digest(v, f"{path}[{k!r}]"))
                for k, v in value.items()
            )
            return _join(b"dict", *(x for kv in items for x in kv))
        if t in (set, frozenset):
            parts = sorted(self.digest(v, f"{path} item") for v in value)
            return _join(b"set", t.__name__, *parts)
        array = _as_numpy(value)
        if array is not None:
            return self._array(array, path)
        if _module_of(t).startswith("pandas") and hasattr(value, "to_numpy"):
            import joblib  # content hash of frames, series and indexes (values, index, dtypes)

            return _join(b"pandas", _type_name(value), joblib.hash(value, hash_name="sha1"))
        if isinstance(value, types.ModuleType):
            return self._module(value, path, names)
        if isinstance(value, types.FunctionType):
            return self._function(value, path)
        if isinstance(value, type):
            return self._class(value, path)
        return self._other(value, path)

    def _array(self, array: Any, path: str) -> str:
        import numpy as np

        if array.dtype.hasobject:
            return _join(b"objarray", repr(array.shape), self.digest(array.tolist(), path))
        flat = np.ascontiguousarray(array).reshape(-1)
        try:
            data: bytes | memoryview = memoryview(flat).cast("B")  # no copy
        except (TypeError, ValueError):  # dtypes the buffer protocol lacks (datetime64, ...)
            data = flat.tobytes()
        return _join(b"array", array.dtype.str, repr(array.dtype), repr(array.shape), data)

    def _module(self, module: types.ModuleType, path: str, names: frozenset[str]) -> str:
        version = library_version(module.__name__)
        if version is not None:
            return _join(b"library-module", module.__name__, version)
        # A user module: digest the attributes the referring code reads off it (`mod.X`).
        parts = [
            self.digest(getattr(module, n), f"{module.__name__}.{n}", names)
            for n in sorted(names)
            if hasattr(module, n) and not n.startswith("__")
        ]
        return _join(b"user-module", module.__name__, *parts)

    def _function(self, fn: types.FunctionType, path: str) -> str:
        name = f"{_module_of(fn)}.{fn.__qualname__}"
        code = fn.__code__
        names = frozenset(_code_names(code))
        version = library_version(_module_of(fn))
        if version is not None:  # library code by version; the data its closure holds by content
            parts = [name, version, *self._closure(fn, name, names)]
            parts.append(self.digest(fn.__defaults__, f"defaults of {name}"))
            return _join(b"library-function", *parts)
        parts = [name, self._code(code)]
        for n in sorted(names & fn.__globals__.keys()):
            parts.append(self.digest(fn.__globals__[n], f"global {n} of {name}", names))
        parts += self._closure(fn, name, names)
        parts.append(self.digest(fn.__defaults__, f"defaults of {name}"))
        parts.append(self.digest(fn.__kwdefaults__, f"keyword defaults of {name}"))
        parts.append(self.digest(dict(fn.__dict__), f"attributes of {name}"))
        return _join(b"function", *parts)

    def _closure(self, fn: types.FunctionType, name: str, names: frozenset[str]) -> list[str]:
        parts = []
        for var, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True):
            try:
                contents = cell.cell_contents
            except ValueError:  # an empty cell (a variable not bound yet)
                parts.append(_join(b"empty-cell", var))
                continue
            parts.append(self.digest(contents, f"closure {var} of {name}", names))
        return parts

    def _code(self, code: types.CodeType) -> str:
        consts = [
            self._code(c) if isinstance(c, types.CodeType) else self.digest(c, "constant")
            for c in code.co_consts
        ]
        shape = (code.co_argcount, code.co_kwonlyargcount, code.co_posonlyargcount, code.co_flags)
        signature = repr((shape, code.co_names, code.co_varnames, code.co_freevars))
        return _join(b"code", code.co_code, signature, *consts)

    def _class(self, cls: type, path: str) -> str:
        name = f"{_module_of(cls)}.{cls.__qualname__}"
        version = library_version(_module_of(cls))
        if version is not None:
            return _join(b"library-class", name, version)
        parts = [name] + [self.digest(b, f"base of {name}") for b in cls.__bases__]
        for attr, member in sorted(vars(cls).items()):
            if attr in _CLASS_SKIP:
                continue
            parts += [attr, self.digest(_unwrap_member(member), f"{name}.{attr}")]
        return _join(b"class", *parts)

    def _other(self, value: Any, path: str) -> str:
        """Objects: builtin callables by name, wrappers by what they wrap, the rest as pickled."""
        t = type(value)
        if isinstance(value, types.MethodType):
            return _join(
                b"method",
                self.digest(value.__func__, path),
                self.digest(value.__self__, f"{path}.__self__"),
            )
        if isinstance(value, types.BuiltinFunctionType | types.BuiltinMethodType):
            owner = value.__self__
            bound = owner is not None and not isinstance(owner, types.ModuleType)
            owner_digest = self.digest(owner, f"{path}.__self__") if bound else ""
            module = getattr(value, "__module__", None) or getattr(owner, "__name__", "")
            return _join(b"builtin", module, value.__qualname__, owner_digest)
        wrapped = getattr(value, "__wrapped__", None)
        if wrapped is not None and callable(value):  # functools.wraps, lru_cache, jax.jit
            return _join(b"wrapper", self._class(t, path), self.digest(wrapped, path))
        try:
            reduced = value.__reduce_ex__(4)
        except Exception as e:  # noqa: BLE001 - any refusal to pickle means "no content"
            return self._undigestable(value, path, f"{_type_name(value)}: {e}")
        if isinstance(reduced, str):  # pickled by reference: a named global of its module
            return _join(b"global", _type_name(value), reduced, self._class(t, path))
        parts = [self._class(t, path), self.digest(reduced[0], f"{path} reconstructor")]
        parts.append(self.digest(reduced[1], f"{path} arguments"))
        state = reduced[2] if len(reduced) > 2 else None
        if type(state) is dict:
            parts.append(self.attributes(state, path))
        else:
            parts.append(self.digest(state, f"{path} state"))
        for i, label in ((3, "items"), (4, "entries")):
            if len(reduced) > i and reduced[i] is not None:
                parts.append(self.digest(list(reduced[i]), f"{path} {label}"))
        return _join(b"object", *parts)


def _unwrap_member(member: Any) -> Any:
    """The functions behind staticmethod / classmethod / property class members."""
    if isinstance(member, staticmethod | classmethod):
        return member.__func__
    if isinstance(member, property):
        return (member.fget, member.fset, member.fdel)
    return member


def _module_of(obj: Any) -> str:
    """`obj.__module__` when it is a string (some C types answer with a descriptor)."""
    module = getattr(obj, "__module__", None)
    return module if isinstance(module, str) else ""


def _type_name(value: Any) -> str:
    t = type(value)
    return f"{_module_of(t)}.{t.__qualname__}"


def _as_numpy(value: Any) -> Any:
    """A numpy view of numpy / JAX / torch arrays (None for anything else)."""
    module = _module_of(type(value))
    if module.startswith("numpy") and hasattr(value, "dtype") and hasattr(value, "shape"):
        import numpy as np

        return np.asarray(value)
    if module.startswith(("jax", "jaxlib")) and hasattr(value, "__array__"):
        import numpy as np

        try:
            return np.asarray(value)
        except Exception:  # noqa: BLE001 - e.g. typed PRNG keys: digest them as objects
            return None
    if module.startswith("torch") and hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return None
