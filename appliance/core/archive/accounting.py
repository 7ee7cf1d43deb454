"""The export ledger checked both ways against what the archive carries.

Every blob the ledger lists must be in the archive, every blob the archive
carries must be listed, and nothing may be missing but what the ledger says
was left out (a platform not asked for, a blob the gap already holds). Pure;
each disagreement is one line, and any line refuses every image: the ledger
is unsigned, so it can only add failures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.core.archive import view

if TYPE_CHECKING:
    from appliance.core.archive.intake import Contents
    from appliance.core.archive.ledger import Ledger
    from appliance.core.archive.manifest import Descriptor


def check_ledger(contents: Contents, ledger: Ledger, entry: Descriptor) -> list[str]:
    """What the archive and its ledger disagree about (empty: nothing)."""
    listed = {c.digest: c for c in ledger.contents}
    accounted = view.accounted(contents, entry, ledger)
    left_out = {p.digest for i in ledger.images for p in i.platforms if not p.included}
    left_out |= {c.digest for c in ledger.omitted_held}
    return [
        *(
            f"the archive holds {d}, which the ledger does not list"
            for d in sorted(set(contents.blobs) - accounted)
        ),
        *(
            f"the ledger lists {d} ({listed[d].role}), which is not in the archive"
            for d in sorted(set(listed) - set(contents.blobs))
        ),
        *(
            f"the ledger says {d} is {c.size} bytes; the archive's is {contents.blobs[d]}"
            for d, c in sorted(listed.items())
            if d in contents.blobs and contents.blobs[d] != c.size
        ),
        *(
            f"{d} is named in the archive but not carried, and the ledger does not say why"
            for d in sorted(contents.missing - left_out)
        ),
        *(
            # Omissions stand only with the inventory they come from (a delta).
            [
                f"the ledger leaves out {len(ledger.omitted_held)} blob(s) as held but names no inventory"
            ]
            if ledger.omitted_held and ledger.delta is None
            else []
        ),
        *(
            f"the ledger says {c.digest} was left out as held, yet the archive carries it"
            for c in ledger.omitted_held
            if c.digest in contents.blobs
        ),
    ]
