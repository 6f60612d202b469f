"""One registry type for every kind of named thing, and `Component`: a name plus its arguments.

A leaf module (stdlib and pydantic only), so every folder declares its own registry next to the
things it registers: searchers and pruners in `search/`, evaluators and executors in
`evaluators/`, spaces in `hashtune/space_registry.py`. Entries are factories, or
``"package.module:attr"`` paths imported on first use; registries that allow it also take such a
path in place of a registered name. `Component` is what the Python API and experiment files both
use to say "build `name` with `args`".
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import field
from typing import Any, Generic, TypeVar

from pydantic import ConfigDict, Field, model_validator
from pydantic.dataclasses import dataclass

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(config=ConfigDict(extra="forbid"))
class Component:
    """A registered name (or ``"package.module:factory"``) and the keyword arguments to build it.

    ``Component("tpe", {"n_startup_trials": 5})`` in Python; ``{name: tpe, args: {...}}`` or the
    shorthand ``tpe`` in an experiment file.
    """

    name: str = Field(min_length=1)
    args: dict[str, Any] = field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _name_shorthand(cls, value: Any) -> Any:
        """A bare string is a component without arguments."""
        return {"name": value} if isinstance(value, str) else value

    def spec(self) -> dict[str, Any]:
        """The JSON form a study's config records: ``{"name": ..., "args": {...}}``."""
        return {"name": self.name, "args": dict(self.args)}

    @classmethod
    def unpack(cls, given: Any, args: dict[str, Any] | None) -> tuple[Any, dict[str, Any] | None]:
        """(name, args) from a `Component`; anything else (a name, an object) comes back as is."""
        if not isinstance(given, Component):
            return given, args
        if args:
            raise TypeError(
                f"give the arguments of {given.name!r} in its Component or as `*_args`, not both"
            )
        return given.name, dict(given.args)


def import_object(ref: str) -> Any:
    """Import ``"package.module:attr"`` (or ``package.module.attr``); errors name the reference."""
    module_name, _, attr = ref.partition(":") if ":" in ref else ref.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"{ref!r} is not an importable reference like 'package.module:name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"cannot import module {module_name!r} of {ref!r}: {e}") from e
    try:
        return getattr(module, attr)
    except AttributeError as e:
        raise ValueError(f"module {module_name!r} has no attribute {attr!r}") from e


def _same(a: Any, b: Any) -> bool:
    """The same entry, or the same class/function imported again (a re-run module)."""
    if a is b or a == b:
        return True
    key = ("__module__", "__qualname__")
    return all(getattr(a, k, None) == getattr(b, k, object()) for k in key)


class Registry(Generic[T]):
    """Names of one `kind` ("searcher", "pruner", ...) mapped to factories that build a `T`.

    `base`: registered classes must subclass it (for registries of classes), and what `build`
    makes must be an instance of it. `modules`: imported before the first lookup, so their
    `@register` decorators have run. `paths`: a ``"package.module:attr"`` name is imported when
    it is not a registered one; `path_hint` says so in the unknown-name error.
    """

    def __init__(
        self,
        kind: str,
        base: type | None = None,
        *,
        entries: dict[str, str | Callable[..., T]] | None = None,
        modules: Iterable[str] = (),
        paths: bool = True,
        path_hint: str = "'package.module:factory'",
        classes: bool = False,
    ):
        self.kind = kind
        self.base = base
        self.paths = paths
        self.path_hint = path_hint
        self.classes = classes
        self._entries: dict[str, str | Callable[..., T]] = dict(entries or {})
        self._modules = tuple(modules)
        self._loaded = not self._modules

    def register(self, name: str, factory: F | None = None) -> Any:
        """Register `factory` as `name`; without `factory`, a decorator (stack it for aliases)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"`name` must be a non-empty string, got {name!r}")

        def deco(obj: F) -> F:
            self._check_class(obj, f"register_{self.kind}({name!r})")
            existing = self._entries.get(name)
            if existing is not None and not isinstance(existing, str) and not _same(existing, obj):
                raise ValueError(f"{self.kind} name {name!r} is already registered to {existing!r}")
            self._entries[name] = obj
            return obj

        return deco if factory is None else deco(factory)

    def names(self) -> list[str]:
        """Every registered name (aliases included), sorted."""
        self._load()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered as `name` (or named by a path); ValueError listing known names."""
        self._load()
        entry = self._entries.get(name)
        if entry is None:
            if self.paths and isinstance(name, str) and ":" in name:
                obj = import_object(name)
                self._check_class(obj, f"{self.kind} {name!r}")
                return obj
            known = ", ".join(sorted(self._entries))
            hint = f" (or {self.path_hint})" if self.paths else ""
            raise ValueError(f"unknown {self.kind} {name!r}; known: {known}{hint}")
        if isinstance(entry, str):
            entry = import_object(entry)
            self._entries[name] = entry
        return entry

    def build(self, name: str, *args: Any, **kwargs: Any) -> T:
        """`get(name)(*args, **kwargs)`; arguments the factory does not take are a ValueError
        naming them, and so is a result that is not a `base`."""
        factory = self.get(name)
        try:
            signature = inspect.signature(factory)
        except (TypeError, ValueError):  # a builtin without a signature: let the call decide
            signature = None
        if signature is not None:
            try:
                signature.bind(*args, **kwargs)
            except TypeError as e:
                unknown = {k: v for k, v in kwargs.items() if k not in signature.parameters}
                raise ValueError(
                    f"{self.kind} {name!r} does not accept arguments {unknown or kwargs!r}: {e}"
                ) from e
        built = factory(*args, **kwargs)
        if self.base is not None and not isinstance(built, self.base):
            raise ValueError(
                f"{self.kind} {name!r} built {type(built).__name__}, not a {self.base.__name__}"
            )
        return built

    def _check_class(self, obj: Any, what: str) -> None:
        if not self.classes or self.base is None:
            return
        if not (isinstance(obj, type) and issubclass(obj, self.base)):
            raise ValueError(f"{what} needs a {self.base.__name__} subclass, got {obj!r}")

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self._modules:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as e:
                if e.name != module:  # a missing dependency inside the module is a real error
                    self._loaded = False
                    raise
