"""``--jobs N``: the images judged in worker processes, the verdict the same whatever N is.

The shared exported world (tests/helpers/world.py: signed images and their
troubles, a rogue signer, a copied signature, no signature...) is verified
whole with the keyless signer flags, so the report holds passes and failures
of every kind. Its JSON and its text are compared byte for byte across
``--jobs 1, 2, 3`` (only the clock and the audit head differ between two
runs, and are set aside); under the seal in a fresh interpreter, the workers
open no socket; a worker that dies is one line and exit 2.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airlock_io.archive import read_archive
from appliance.actions.parallel import _chunks, runner, usable_cpus
from appliance.actions.policy import SignerFlags, load_policy
from appliance.cli.main import main as appliance
from appliance.core.archive import view
from appliance.core.archive.verify import Work, in_order, verify_archive
from appliance.core.errors import InputError, Reason
from appliance.trust.archive import trust_for
from appliance.trust.memory import Memory
from tests.helpers.exported import KEYLESS, Exported

if TYPE_CHECKING:
    from appliance.core.archive.verdict import ImageVerdict

pytestmark = pytest.mark.registry
ROOT = Path(__file__).parents[2]


def _normal(report: dict[str, Any]) -> str:
    """The report as bytes, but for what differs between any two runs (the clock, the audit head)."""
    now = report["appliance"]["now"]
    report.pop("audit", None)
    # The clock is read once per run: wherever it shows, it shows this value.
    return json.dumps(report, indent=2).replace(now, "NOW")


def _verify(
    exported: Exported, capsys: pytest.CaptureFixture[str], *flags: str
) -> tuple[int, str, str]:
    capsys.readouterr()
    code = appliance(
        [
            "verify",
            str(exported.archive),
            "--trusted-root",
            str(exported.root),
            *KEYLESS,
            *flags,
        ]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_json_report_is_byte_identical_for_any_number_of_workers(
    exported: Exported, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = {}
    for jobs in ("1", "2", "3"):
        code, out, _ = _verify(exported, capsys, "-o", "json", "--jobs", jobs)
        assert code == 1  # the world's troubles fail, its signed images pass
        reports[jobs] = _normal(json.loads(out))
    report = json.loads(reports["1"])
    verdicts = [i["verified"] for i in report["images"]]
    assert len(verdicts) >= 4
    assert True in verdicts
    assert False in verdicts
    assert reports["2"] == reports["1"]
    assert reports["3"] == reports["1"]


def test_the_text_report_is_byte_identical_for_any_number_of_workers(
    exported: Exported, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = {}
    for jobs in ("1", "2", "3"):
        code, _, err = _verify(exported, capsys, "--jobs", jobs)
        assert code == 1
        # The table and its summary (stderr); the clock read at each start
        # and the audit line (each run is the next line of the log) set aside.
        table = err.split("audit: line")[0]
        texts[jobs] = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "TIME", table)
    assert "4 of 9 image(s) verified" in texts["1"]
    assert texts["2"] == texts["1"]
    assert texts["3"] == texts["1"]


def _work(exported: Exported, tmp_path: Path) -> Work:
    """The world's work as :func:`verify_archive` hands it to a runner (kept by a runner of our own)."""
    archive = read_archive(exported.archive)
    ledger, _ = view.ledger(archive.contents)
    now = datetime(2026, 11, 1, 12, tzinfo=UTC)
    trust, _ = trust_for(
        archive.contents,
        ledger,
        trusted_root=exported.root,
        state_dir=tmp_path / "state",
        now=now,
        max_age=timedelta(0),
        memory=Memory(tmp_path / "state").log_memory(),
    )
    policy = load_policy(
        SignerFlags(identity=KEYLESS[1], issuer=KEYLESS[3]),
        annotations={},
        require_attestations=(),
        insecure_ignore_tlog=False,
    )
    kept: list[Work] = []

    def keep(work: Work) -> list[ImageVerdict]:
        kept.append(work)
        return in_order(work)

    verify_archive(
        archive.contents, rules=policy.rules, trust=trust, now=now, runner=keep
    )
    return kept[0]


def test_the_runner_gives_the_verdicts_of_the_sequential_run_in_claim_order(
    exported: Exported, tmp_path: Path
) -> None:
    work = _work(exported, tmp_path)
    alone = [v.to_json() for v in in_order(work)]
    for jobs in (2, 3, len(work) + 5):
        assert [v.to_json() for v in runner(jobs)(work)] == alone
    # Errors come back whole from a worker: reason, place, evidence.
    errors = [e for v in runner(2)(work) for e in v.errors]
    assert errors
    assert all(isinstance(e.reason, Reason) for e in errors)


class _Dying(Work):
    """The world's work, but the second image's worker is killed (as the OOM killer would)."""

    __slots__ = ()

    def judge(self, index: int) -> ImageVerdict:
        if index == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().judge(index)


def test_a_worker_that_dies_is_one_input_error_naming_jobs(
    exported: Exported, tmp_path: Path
) -> None:
    work = _work(exported, tmp_path)
    dying = _Dying(**{f: getattr(work, f) for f in Work.__dataclass_fields__})
    with pytest.raises(InputError) as caught:
        runner(2)(dying)
    assert caught.value.reason == Reason.INTERRUPTED
    line = caught.value.diagnostics()
    assert line.startswith("--jobs 2: a verification worker process ended abruptly")
    assert "--jobs 1" in line
    assert "\n" not in line
    # The same work without the killing: the pool is not left broken for the next run.
    assert len(runner(2)(work)) == len(work)


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5", ""])
def test_jobs_must_be_a_whole_number_of_at_least_one(
    exported: Exported, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    code, _, err = _verify(exported, capsys, "--jobs", bad)
    assert code == 2
    assert "--jobs" in err
    assert "Traceback" not in err


def test_a_runner_of_no_workers_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        runner(0)
    assert caught.value.reason == Reason.USAGE


@given(count=st.integers(min_value=0, max_value=20_000), jobs=st.integers(1, 64))
def test_the_tasks_cover_every_image_once_in_order_the_last_ones_shorter(
    count: int, jobs: int
) -> None:
    chunks = _chunks(count, jobs)
    assert [i for chunk in chunks for i in chunk] == list(range(count))
    sizes = [len(chunk) for chunk in chunks]
    assert all(size >= 1 for size in sizes)
    # About 32 tasks a worker, and the shorter ones to end on: never 64.
    assert len(chunks) <= 64 * jobs
    # Once the tasks shrink, they never grow again; the last is one image.
    widest = max(sizes, default=0)
    shrinking = next((n for n, s in enumerate(sizes) if s < widest), len(sizes))
    assert sizes[shrinking:] == sorted(sizes[shrinking:], reverse=True)
    assert not sizes or sizes[-1] == 1


def test_the_default_is_every_usable_cpu() -> None:
    assert usable_cpus() == len(os.sched_getaffinity(0))


_SEALED = """
import json, sys
from appliance import _seal
_seal.install()
events = []
sys.addaudithook(lambda e, a: events.append(e) if e.startswith("socket.") else None)
from appliance.cli.main import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "socket_events": events, "sealed": _seal.is_installed()}), file=sys.stderr)
"""


@pytest.mark.slow
def test_workers_run_under_the_seal_and_open_no_socket(
    exported: Exported, tmp_path: Path
) -> None:
    """A fresh sealed interpreter, as the console script starts: the same report, no socket at all."""
    reports = []
    for jobs in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", _SEALED, "verify", str(exported.archive),
             "--trusted-root", str(exported.root), *KEYLESS, "-o", "json", "--jobs", jobs],
            capture_output=True, text=True, check=False, cwd=ROOT,
            env={**os.environ, "APPLIANCE_STATE_DIR": str(tmp_path / f"state{jobs}")},
        )  # fmt: skip
        probe = json.loads(done.stderr.strip().splitlines()[-1])
        assert probe["code"] == 1, done.stderr
        assert probe["sealed"] is True
        assert probe["socket_events"] == []
        reports.append(_normal(json.loads(done.stdout)))
    assert reports[0] == reports[1]


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_extract_writes_the_same_layout_for_any_number_of_workers(
    exported: Exported, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``--jobs`` reaches every verb that verifies: what passed, and only that, is written alike."""
    written = {}
    for jobs in ("1", "3"):
        out = tmp_path / f"out{jobs}"
        code = appliance(
            ["extract", str(exported.archive), "--to", str(out),
             "--trusted-root", str(exported.root), *KEYLESS, "--jobs", jobs]
        )  # fmt: skip
        assert code == 1, capsys.readouterr().err  # the troubles are refused
        written[jobs] = _tree(out)
    assert written["1"]
    assert written["3"] == written["1"]


def test_documents_held_in_the_spool_give_the_same_report(
    exported: Exported,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the threshold (here: at once) the intake spools its documents; nothing else may change."""
    from appliance.core.archive import intake  # noqa: PLC0415

    code, out, _ = _verify(exported, capsys, "-o", "json", "--jobs", "1")
    plain = _normal(json.loads(out))
    monkeypatch.setattr(intake, "PLAIN_BYTES", 0)
    assert read_archive(exported.archive).contents.documents.spooled  # type: ignore[attr-defined]
    for jobs in ("1", "2"):
        packed_code, packed, _ = _verify(exported, capsys, "-o", "json", "--jobs", jobs)
        assert packed_code == code
        assert _normal(json.loads(packed)) == plain


def _raw(out: str) -> str:
    """The report's text as written, but for the clock and the audit object (differ between runs)."""
    now = json.loads(out)["appliance"]["now"]
    text = re.sub(r',\n  "audit": \{.*?\n  \}', "", out, flags=re.DOTALL)
    return text.replace(now, "NOW")


def test_compact_verdicts_write_the_report_of_whole_ones_byte_for_byte(
    exported: Exported,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The CLI renders each image's entry where it is judged and keeps less (#26); nothing shown may change."""
    from appliance.actions import verify as action  # noqa: PLC0415

    flags = [*KEYLESS, "-o", "json"]

    def run(jobs: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = appliance(
            ["verify", str(exported.archive), "--trusted-root", str(exported.root),
             *flags, "--jobs", jobs]
        )  # fmt: skip
        captured = capsys.readouterr()
        # The table, but for the audit line (its head differs between runs).
        table = re.sub(r"audit: line \d+, head\s+[0-9a-f]{64}", "", captured.err)
        return code, _raw(captured.out), table

    compact = {jobs: run(jobs) for jobs in ("1", "2")}
    finisher = action._finisher
    monkeypatch.setattr(
        action,
        "_finisher",
        lambda *, review, compact: finisher(review=review, compact=False),  # noqa: ARG005
    )
    whole = run("1")
    assert whole[0] == 1  # the world's troubles fail
    assert '"checks": [\n' in whole[1]  # every check's wording is in the report
    for jobs in ("1", "2"):
        assert compact[jobs][0] == whole[0]
        assert compact[jobs][1] == whole[1]  # the report, byte for byte
        assert compact[jobs][2] == whole[2]  # the table
