"""The export ledger is parsed as it arrives (#26: 50 MB of JSON at 10,000 images); nothing else changes.

Its parse moved from the verification into the intake, so that its peak
comes before the other documents are held. A ledger that does not parse is
still reported where it always was (one line, exit 2, naming the field),
whether the archive is verified or only shown (``read_ledger``), and the
ledger is parsed once however many steps ask for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from airlock_io.archive import read_archive, read_ledger
from appliance.cli.main import main as appliance
from appliance.core.archive import ledger as ledger_mod
from appliance.core.archive import view
from appliance.core.errors import InputError
from tests.helpers.archives import extract
from tests.helpers.exported import KEYLESS, Exported
from tests.helpers.layout_edit import Layout

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.registry


def _layout(exported: Exported, tmp_path: Path) -> Layout:
    return Layout(extract(exported.archive, tmp_path / "layout"))


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda doc: doc.pop("tool"), "ledger.tool"),
        (lambda doc: doc.update(ledgerVersion=99), "ledger"),
        (lambda doc: doc["images"].append({"digest": "nope"}), "ledger.images"),
        (lambda doc: doc["contents"][0].update(size="big"), "ledger.contents[0]"),
    ],
    ids=["no-tool", "version", "bad-image", "bad-size"],
)
def test_a_ledger_that_does_not_parse_is_one_input_error_where_it_always_was(
    exported: Exported,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: object,
    where: str,
) -> None:
    layout = _layout(exported, tmp_path)
    layout.rewrite_ledger(edit)  # type: ignore[arg-type]
    archive = read_archive(layout.root)  # the intake itself does not refuse it...
    with pytest.raises(InputError) as verified:
        view.ledger(archive.contents)  # ...it is refused when asked for
    assert where in str(verified.value.where)
    with pytest.raises(InputError) as shown:
        read_ledger(layout.root)
    assert str(shown.value) == str(verified.value)
    capsys.readouterr()
    code = appliance(
        ["verify", str(layout.root), "--trusted-root", str(exported.root), *KEYLESS]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert where in err
    assert "Traceback" not in err


def test_the_ledger_is_parsed_once_as_it_arrives(
    exported: Exported,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parses = []
    real = ledger_mod.Ledger.from_bytes.__func__  # type: ignore[attr-defined]

    def counted(cls: type[ledger_mod.Ledger], data: bytes) -> ledger_mod.Ledger:
        parses.append(len(data))
        return real(cls, data)  # type: ignore[no-any-return]

    monkeypatch.setattr(ledger_mod.Ledger, "from_bytes", classmethod(counted))
    capsys.readouterr()
    code = appliance(
        ["verify", str(exported.archive), "--trusted-root", str(exported.root),
         *KEYLESS, "--jobs", "1"]
    )  # fmt: skip
    assert code == 1, capsys.readouterr().err  # the world's troubles fail
    assert len(parses) == 1
    parses.clear()
    shown = read_ledger(exported.archive)
    assert shown.images
    assert len(parses) == 1
