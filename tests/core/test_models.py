"""bot/core/models.py: the hot shapes get a cheaper __init__ that must behave exactly like
the one dataclasses generates (parameters, defaults, immutability, copies)."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from datetime import UTC, datetime

import pytest

from bot.core.models import AnalysedPost, Block, PostDoc, Segment, StoredPost, cheap_to_build

BUILT_CHEAPLY = (Block, PostDoc, Segment, AnalysedPost, StoredPost)


def _values(cls: type) -> dict[str, object]:
    """A value for every field (its annotation is a string here), none of them a default."""
    out: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        kind = str(f.type)
        if kind.startswith("tuple[Segment"):
            out[f.name] = (Segment("own", "hi", 0),)
        elif kind.startswith("tuple[Block"):
            out[f.name] = (Block("hi"),)
        elif kind.startswith("datetime"):
            out[f.name] = datetime(2026, 1, 2, tzinfo=UTC)
        elif kind == "bool":
            out[f.name] = True
        elif kind.startswith("int"):
            out[f.name] = 7
        else:
            out[f.name] = f"{f.name} value"
    return out


@pytest.mark.parametrize("cls", BUILT_CHEAPLY, ids=lambda c: c.__name__)
def test_the_cheap_init_takes_what_the_generated_one_takes(cls: type) -> None:
    fields = dataclasses.fields(cls)
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        if f.default is not dataclasses.MISSING:
            assert p.default == f.default
        elif f.default_factory is dataclasses.MISSING:
            assert p.default is inspect.Parameter.empty

    values = _values(cls)
    by_keyword = cls(**values)
    by_position = cls(*values.values())
    assert by_keyword == by_position
    assert {f.name: getattr(by_keyword, f.name) for f in fields} == values
    assert pickle.loads(pickle.dumps(by_keyword)) == by_keyword
    assert copy.deepcopy(by_keyword) == by_keyword
    assert hash(by_keyword) == hash(cls(**values))
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(by_keyword, fields[0].name, values[fields[0].name])
    required = [f.name for f in fields if f.default is dataclasses.MISSING and (
        f.default_factory is dataclasses.MISSING)]  # fmt: skip
    with pytest.raises(TypeError, match="missing"):
        cls(*[values[name] for name in required[:-1]])


def test_defaults_and_default_factories_are_filled_in() -> None:
    segment = Segment("own", "hello", 2)
    assert (segment.source_post, segment.source_author, segment.explicit) == (None, None, False)
    post = StoredPost(3, "text", "hash")
    assert post.segments == () and post.deleted is False and post.likes is None
    assert dataclasses.replace(segment, text="bye") == Segment("own", "bye", 2)

    @cheap_to_build
    @dataclasses.dataclass(frozen=True, slots=True)
    class Bag:
        name: str
        items: list[int] = dataclasses.field(default_factory=list)

    first, second = Bag("a"), Bag("b")
    assert first.items == [] and first.items is not second.items  # a new list each time
    assert Bag("c", [1]).items == [1]
