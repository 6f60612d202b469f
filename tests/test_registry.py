"""The generic registry and `Component`: one lookup, one error wording, for every kind of name."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

import hashtune
from hashtune.evaluators.executors.registry import EXECUTORS
from hashtune.evaluators.registry import EVALUATORS
from hashtune.registry import Component, Registry
from hashtune.search.pruners import PRUNERS
from hashtune.search.registry import SEARCHERS
from hashtune.space_registry import SPACES


class Base:
    """What the test registries build."""

    def __init__(self, size: int = 1):
        self.size = size


class Other(Base):
    pass


def make_other(size: int = 2) -> Base:
    return Other(size)


def test_register_by_name_or_decorator_and_build() -> None:
    reg: Registry[Base] = Registry("widget", Base)
    reg.register("plain", Base)

    @reg.register("other")
    @reg.register("alias")
    class Mine(Base):
        pass

    assert reg.names() == ["alias", "other", "plain"] and "other" in reg
    assert reg.get("alias") is Mine
    assert reg.build("plain", size=3).size == 3
    reg.register("plain", Base)  # the same entry again (a re-imported module) is fine
    with pytest.raises(ValueError, match="widget name 'plain' is already registered"):
        reg.register("plain", Other)
    with pytest.raises(ValueError, match="non-empty string"):
        reg.register("", Base)


def test_unknown_names_list_the_known_ones_and_paths() -> None:
    reg: Registry[Base] = Registry("widget", Base, entries={"b": Base, "a": Base})
    with pytest.raises(ValueError) as err:
        reg.get("c")
    assert str(err.value) == "unknown widget 'c'; known: a, b (or 'package.module:factory')"
    assert isinstance(reg.build(f"{__name__}:make_other"), Other)
    closed: Registry[Base] = Registry("gadget", Base, entries={"a": Base}, paths=False)
    with pytest.raises(ValueError) as err:
        closed.get(f"{__name__}:make_other")
    assert str(err.value) == f"unknown gadget '{__name__}:make_other'; known: a"


def test_lazy_paths_arguments_and_result_type_are_checked() -> None:
    reg: Registry[Base] = Registry(
        "widget", Base, entries={"lazy": f"{__name__}:make_other", "bad": f"{__name__}:nothing"}
    )
    assert reg.build("lazy").size == 2
    with pytest.raises(ValueError, match="has no attribute 'nothing'"):
        reg.get("bad")
    with pytest.raises(ValueError, match=r"widget 'lazy' does not accept arguments \{'colour'"):
        reg.build("lazy", colour=1)
    reg.register("text", lambda: "not a widget")
    with pytest.raises(ValueError, match="widget 'text' built str, not a Base"):
        reg.build("text")


def test_class_registries_refuse_other_things() -> None:
    reg: Registry[Base] = Registry("widget", Base, classes=True, path_hint="'package.module:Class'")
    with pytest.raises(ValueError, match=r"register_widget\('f'\) needs a Base subclass"):
        reg.register("f", make_other)
    with pytest.raises(ValueError, match="needs a Base subclass"):
        reg.get(f"{__name__}:make_other")
    with pytest.raises(ValueError, match=r"\(or 'package.module:Class'\)"):
        reg.get("nope")


def test_builtin_modules_load_before_the_first_lookup() -> None:
    reg: Registry[Base] = Registry("widget", Base, modules=("json", "hashtune.no_such_module"))
    assert reg.names() == []  # a built-in module that does not exist yet is skipped


def test_every_kind_is_one_registry() -> None:
    for reg, kind, name in (
        (SPACES, "space", "nas_bench_201"),
        (EVALUATORS, "evaluator", "function"),
        (SEARCHERS, "searcher", "random"),
        (PRUNERS, "pruner", "median"),
        (EXECUTORS, "executor", "process"),
    ):
        assert isinstance(reg, Registry) and reg.kind == kind and name in reg.names()
        with pytest.raises(ValueError, match=f"unknown {kind} 'nope'; known: "):
            reg.get("nope")


def test_component_in_python_and_in_files() -> None:
    class File(BaseModel):
        c: Component
        d: Component | None = None

    assert File.model_validate({"c": "tpe"}).c == Component("tpe")
    parsed = File.model_validate({"c": {"name": "tpe", "args": {"n": 3}}, "d": None})
    assert parsed.c == Component("tpe", {"n": 3}) and parsed.c.spec() == {
        "name": "tpe",
        "args": {"n": 3},
    }
    with pytest.raises(ValidationError):
        File.model_validate({"c": {"name": "tpe", "arg": {}}})
    with pytest.raises(ValidationError):
        Component("")
    assert Component.unpack(Component("tpe", {"n": 3}), None) == ("tpe", {"n": 3})
    assert Component.unpack("tpe", {"n": 3}) == ("tpe", {"n": 3})
    with pytest.raises(TypeError, match="not both"):
        Component.unpack(Component("tpe", {"n": 3}), {"n": 4})
    assert hashtune.Component is Component


def test_study_create_takes_components(tmp_path) -> None:
    from pathlib import Path

    fixture = str(Path(__file__).parent / "fixtures" / "nb201_fixture.csv")
    study = hashtune.Study.create(
        "components",
        space=Component("nas_bench_201"),
        evaluator=Component("nas_bench_201_tabular", {"path": fixture}),
        searcher=Component("random"),
        executor=Component("inprocess"),
        pruner=Component("median", {"n_startup_trials": 2}),
        storage=f"sqlite:///{tmp_path}/c.db",
    )
    config = study.store.studies.require("components").config
    assert config["evaluator"] == {"name": "nas_bench_201_tabular", "args": {"path": fixture}}
    assert config["pruner"] == {"name": "median", "args": {"n_startup_trials": 2}}
    study.optimize(n_trials=2)
    assert len(study.trials()) == 2
    study.close()
