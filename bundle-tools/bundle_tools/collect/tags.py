"""Listing a repository's tags: the one place the exporter asks a registry for them.

``GET /v2/<name>/tags/list?n=<page>`` and then each ``Link: <...>; rel="next"``
the registry sends (distribution-spec §Listing Tags: a registry may return
fewer than ``n`` and names the next page, ``last=<tag>``, in the header; a
response without one is the last). The client follows the links on the same
host only and stops a loop of them (``RegistryClient.list_tags``, the one
registry transport). Names the registry lists that are not
tags in the distribution grammar are dropped here: they could be no reference.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from airlock_registry.client import RegistryClient

_TAG: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def list_tags(client: RegistryClient, repository: str) -> list[str]:
    """Every tag of ``repository`` on ``client``'s registry, sorted, each once.

    A repository the registry does not know lists no tags.

    Raises:
        InputError: the registry failed, refused, or its pagination does not end.
    """
    return sorted({t for t in client.list_tags(repository) if _TAG.fullmatch(t)})
