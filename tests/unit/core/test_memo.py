"""Trust material's memos are keyed by the object itself, never by an equal one."""

from __future__ import annotations

import gc
import weakref

from appliance.core._memo import by_identity


class _Material:
    """Equal to every other instance, and unhashable: only identity can key it."""

    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Material)


def test_one_computation_per_object_and_none_shared_between_equal_objects() -> None:
    calls: list[object] = []

    @by_identity(maxsize=8)
    def derive(material: _Material) -> tuple[int]:
        calls.append(material)
        return (len(calls),)

    first, second = _Material(), _Material()
    assert derive(first) is derive(first)
    assert derive(second) == (2,)
    assert calls == [first, second]


def test_a_full_memo_starts_again_and_stays_right() -> None:
    @by_identity(maxsize=3)
    def derive(material: _Material) -> int:
        return id(material)

    held = [_Material() for _ in range(10)]
    for _ in range(2):
        for material in held:
            assert derive(material) == id(material)


def test_a_remembered_object_is_kept_alive_so_its_id_names_only_it() -> None:
    @by_identity(maxsize=8)
    def derive(material: _Material) -> str:
        return "derived"

    material = _Material()
    alive = weakref.ref(material)
    derive(material)
    del material
    gc.collect()
    assert alive() is not None
