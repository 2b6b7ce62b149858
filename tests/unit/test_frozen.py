"""``quick_init`` and ``replacing`` build the same objects as the dataclass would, frozen."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import InitVar, dataclass, field

import pytest

from certmgr.frozen import quick_init, replacing, slot_setter


@dataclass(frozen=True, slots=True)
class Plain:
    name: str
    size: int = 3
    tags: dict[str, str] = field(default_factory=dict)
    derived: int = field(init=False, default=0)
    later: str = field(default="x", kw_only=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "derived", self.size * 2)


@quick_init
@dataclass(frozen=True, slots=True)
class Quick:
    name: str
    size: int = 3
    tags: dict[str, str] = field(default_factory=dict)
    derived: int = field(init=False, default=0)
    later: str = field(default="x", kw_only=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "derived", self.size * 2)


def _fields(obj: object) -> dict[str, object]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        pytest.param(("a",), {}, id="defaults"),
        pytest.param(("a", 5), {}, id="positional"),
        pytest.param((), {"name": "a", "size": 7, "tags": {"k": "v"}}, id="keywords"),
        pytest.param(("a",), {"later": "y"}, id="keyword-only"),
    ],
)
def test_quick_init_builds_what_the_dataclass_builds(
    args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    assert _fields(Quick(*args, **kwargs)) == _fields(Plain(*args, **kwargs))  # type: ignore[arg-type]


def test_quick_init_keeps_the_signature() -> None:
    quick = inspect.signature(Quick.__init__).parameters
    plain = inspect.signature(Plain.__init__).parameters
    assert [(p.name, p.kind) for p in quick.values()] == [(p.name, p.kind) for p in plain.values()]


def test_each_object_gets_its_own_factory_default() -> None:
    assert Quick("a").tags is not Quick("b").tags


def test_a_quick_object_stays_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Quick("a").size = 4  # type: ignore[misc]


def test_missing_and_unknown_arguments_are_refused_as_before() -> None:
    with pytest.raises(TypeError):
        Quick()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Quick("a", 1, {}, "late")  # type: ignore[call-arg]


def test_init_vars_are_refused() -> None:
    @dataclass(frozen=True, slots=True)
    class WithInitVar:
        seed: InitVar[int]

    with pytest.raises(TypeError, match="InitVars"):
        quick_init(WithInitVar)


def test_a_class_without_slots_is_refused() -> None:
    @dataclass(frozen=True)
    class Unslotted:
        name: str

    with pytest.raises(TypeError, match="slotted"):
        quick_init(Unslotted)
    with pytest.raises(TypeError, match="slot"):
        slot_setter(Unslotted, "name")


def test_replacing_changes_one_field_and_carries_derived_ones() -> None:
    original = Quick("a", 5, later="y")
    moved = replacing(Quick, "name")(original, "b")
    assert _fields(moved) == {**_fields(original), "name": "b"}
    # derived from size, not recomputed: the copy carries the original's value
    object.__setattr__(original, "derived", 99)
    assert replacing(Quick, "name")(original, "c").derived == 99
    with pytest.raises(dataclasses.FrozenInstanceError):
        moved.name = "c"  # type: ignore[misc]


def test_replacing_an_unknown_field_is_refused() -> None:
    with pytest.raises(TypeError, match="no field"):
        replacing(Quick, "colour")
