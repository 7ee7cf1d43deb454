"""``bundle-tools export --named-capsule NAME=DIR``: what the flag accepts (#22)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.core.errors import InputError, Reason
from bundle_tools.export_cmd import _named_capsules


@pytest.mark.parametrize(
    "items",
    [
        ["github"],
        ["github="],
        ["=dir"],
        ["GitHub=dir"],
        ["../x=dir"],
        ["public-good=dir"],
        ["github=a", "github=b"],
    ],
)
def test_bad_named_capsules_are_usage_errors(items: list[str]) -> None:
    with pytest.raises(InputError) as caught:
        _named_capsules(items)
    assert caught.value.reason is Reason.USAGE


def test_named_capsules_keep_their_order() -> None:
    assert _named_capsules(["github=gh", "acme-private=p/q"]) == (
        ("github", Path("gh")),
        ("acme-private", Path("p/q")),
    )
