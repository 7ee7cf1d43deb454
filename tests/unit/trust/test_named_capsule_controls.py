"""Attack: a named root's new root version carried in an archive, committed on one person's say-so (#25).

Under two-person integrity a new root version is committed only with the
threshold's approvals (docs/revocation.md §4); an archive carries none, so
its named capsule may refresh the held root's timestamp, snapshot and
targets, never move it to a new root version, as for public-good's capsule.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from appliance.actions.controls import ControlsInitRequest, controls_init
from appliance.actions.trust import TrustImportRequest, trust_import
from appliance.trust import held
from appliance.trust.archive import _import_named
from tests.helpers.tuf_repo import TufRepo
from tests.unit.trust.test_controls_replay import _key
from tests.unit.trust.test_held import GH_ROOT_LINE

if TYPE_CHECKING:
    from pathlib import Path


def _held_version(state: Path) -> int:
    held_state = held.store(state, "github").load()
    assert held_state is not None
    return held_state.root_version


def test_a_named_capsules_new_root_version_is_not_committed_under_controls(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    now = datetime.now(UTC)  # the replay reads the wall clock's metadata dates
    repo = TufRepo(now=now)
    repo.add_target("trusted_root.json", GH_ROOT_LINE)
    repo.publish()
    (tmp_path / "root.json").write_bytes(repo.initial_root())
    trust_import(
        TrustImportRequest(
            source=repo.write_to(tmp_path / "v1"),
            state_dir=state,
            name="github",
            bootstrap_root=tmp_path / "root.json",
        )
    )
    pems = (_key(tmp_path, "a")[1], _key(tmp_path, "b")[1])
    controls_init(ControlsInitRequest(threshold=2, keys=pems, state_dir=state))

    repo.rotate_root(keys=1, threshold=1)
    repo.publish()
    said = _import_named(
        dict(repo.files),
        name="github",
        state_dir=state,
        now=now,
        max_age=timedelta(0),
    )
    assert said.startswith("not imported, the trust held is used")
    assert "as trust root 'github'" in said
    assert "--name github --approvals FILE" in said
    assert _held_version(state) == 1
