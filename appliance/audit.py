"""The audit log: one JSON line per decision, each naming the hash of the line before.

``$APPLIANCE_STATE_DIR/audit.jsonl``. Every ``verify``, ``load``,
``extract``, ``trust import`` and ``sign-blob`` appends a line: the time, the
command, what it judged (the archive's SHA-256, the trust root, each image's
verdict and reason), what it pushed or wrote where, its exit code, a
sequence number and ``prev``, the SHA-256 of the previous line's bytes (the
first line's ``prev`` is 64 zeros). A line's own hash is the *head* after it;
every report prints it, so a kept report anchors the chain up to it.

Appending never rewrites: ``O_APPEND``, one ``write`` of the whole line, then
``fsync``, under a lock. A crash in the middle of an append can leave an
incomplete last line; the next append refuses to build on it until ``audit
verify`` has reported it, which moves the torn bytes aside (to
``audit.jsonl.torn-<sha256>``) and records that it did, in the chain.

:func:`check_chain` is pure (lines in, the first problem out): an edited
line breaks the next line's ``prev``, a removed or reordered line breaks the
sequence, a truncated tail is not a whole line.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from airlock_io.atomic import fsync_dir, locked
from airlock_io.oserrors import write_error
from airlock_io.terminal import LINE_LIMIT, untrusted
from appliance.core.errors import InputError, Reason
from trustroot import strict_json

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

AUDIT_NAME: Final = "audit.jsonl"
GENESIS: Final = "0" * 64
VERSION: Final = 1
MAX_LINE_BYTES: Final = (
    16 * 1024 * 1024
)  # a load of thousands of images stays well under


@dataclass(frozen=True, slots=True, kw_only=True)
class Head:
    """Where the chain stands: the last line's number and hash."""

    seq: int
    sha256: str

    def to_json(self) -> dict[str, object]:
        """The ``audit`` object every report carries."""
        return {"line": self.seq, "sha256": self.sha256}


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """The first thing wrong with the chain."""

    line: int  # 1-based
    what: str
    torn: bool = False  # an incomplete last line (a crash during an append)


_FACTS: Final = "_airlock_audit_facts"


def attach(error: BaseException, **facts: object) -> None:
    """Record on ``error`` what its command had done when it stopped.

    The audit line written for the failure carries these facts (what a load
    had pushed before an interruption or a registry failure), whichever face
    ran the command; the error's line to the operator says it in words (its
    notes).
    """
    found = getattr(error, _FACTS, None)
    if not isinstance(found, dict):
        found = {}
        setattr(error, _FACTS, found)
    found.update(facts)


def attached(error: BaseException) -> dict[str, object]:
    """The facts :func:`attach` recorded on ``error`` (none: an empty dict)."""
    found = getattr(error, _FACTS, None)
    return dict(found) if isinstance(found, dict) else {}


def line_hash(line: bytes) -> str:
    """The SHA-256 of a line's bytes, without its newline."""
    return hashlib.sha256(line).hexdigest()


def _problem_of(
    line: bytes, number: int, *, torn_possible: bool, prev: str
) -> Problem | None:
    """What is wrong with one line, given the hash the line before it has."""
    try:
        doc = strict_json.loads(line)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        if torn_possible:
            return Problem(
                line=number, what="is incomplete (a crash during an append?)", torn=True
            )
        return Problem(line=number, what="is not a JSON object: it was edited")
    if torn_possible:
        return Problem(
            line=number, what="has no newline: the append did not finish", torn=True
        )
    seq = doc.get("seq")
    if seq != number:
        removed = isinstance(seq, int) and not isinstance(seq, bool)
        what = (
            f"says it is line {seq}: lines were removed or reordered before it"
            if removed
            else "has no line number: it was edited"
        )
        return Problem(line=number, what=what)
    if doc.get("prev") != prev:
        return Problem(
            line=number - 1,
            what=f"was edited (line {number} names another hash for it)",
        )
    return None


def check_chain(
    lines: Sequence[bytes], *, complete: bool, anchors: Sequence[str] = ()
) -> Problem | None:
    """The first problem of a chain of lines, or None if it holds.

    Args:
        lines: the log's lines, without newlines.
        complete: whether the file ended with a newline.
        anchors: line hashes that must appear (heads printed in kept reports).
    """
    prev, seen = GENESIS, set()
    for number, line in enumerate(lines, 1):
        problem = _problem_of(
            line, number, torn_possible=number == len(lines) and not complete, prev=prev
        )
        if problem is not None:
            return problem
        prev = line_hash(line)
        seen.add(prev)
    missing = next((a for a in anchors if a not in seen), None)
    if missing is not None:
        return Problem(
            line=len(lines),
            what=f"the chain does not contain the anchored line {missing[:16]}: lines were removed or edited",
        )
    return None


class AuditLog:
    """The audit log of one appliance state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / AUDIT_NAME
        self._lock = state_dir / ".audit.lock"

    def _read(self) -> tuple[list[bytes], bool]:
        """(lines without newlines, whether the file ends with one)."""
        try:
            with self.path.open("rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return [], True
        except OSError as exc:
            msg = f"cannot read the audit log: {exc.strerror or exc}"
            raise InputError(
                msg, where=str(self.path), reason=Reason.INPUT_UNREADABLE
            ) from exc
        if not data:
            return [], True
        complete = data.endswith(b"\n")
        return data.removesuffix(b"\n").split(b"\n"), complete

    def head(self) -> Head:
        """The last line's number and hash (line 0 and 64 zeros for an empty log).

        Raises:
            InputError: the log ends in an incomplete line. The command's
                environment is at fault, not what it was asked to judge, so
                this is exit 2, like any state that cannot be read.
        """
        lines, complete = self._read()
        if not complete:
            msg = "the audit log ends in an incomplete line (a crash during an append?): run `appliance audit verify`"
            raise InputError(msg, reason=Reason.MALFORMED_INPUT, where=str(self.path))
        return Head(seq=len(lines), sha256=line_hash(lines[-1]) if lines else GENESIS)

    def append(
        self, command: str, record: dict[str, Any], *, now: datetime | None = None
    ) -> Head:
        """Append one decision; return the new head.

        Raises:
            InputError: the last line is incomplete (run ``audit verify``), or
                the log cannot be written.
        """
        with self._locked():
            head = self.head()
            doc = {
                "v": VERSION,
                "seq": head.seq + 1,
                "prev": head.sha256,
                "time": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "command": command,
                **record,
            }
            line = json.dumps(
                doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True
            ).encode()
            if len(line) > MAX_LINE_BYTES:
                msg = f"an audit line of {len(line)} bytes is over the {MAX_LINE_BYTES}-byte limit"
                raise InputError(
                    msg, where=str(self.path), reason=Reason.LIMIT_EXCEEDED
                )
            self._write(line + b"\n")
            return Head(seq=head.seq + 1, sha256=line_hash(line))

    def _write(self, data: bytes) -> None:
        created = not self.path.exists()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                before = os.fstat(fd).st_size
                try:
                    written = os.write(fd, data)
                    if written != len(data):  # the disk filled up mid-line
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # noqa: TRY301 - handled below, like any failed write
                    os.fsync(fd)
                except OSError:
                    # Under the lock: the log goes back to its last whole
                    # line, so a failed append leaves no torn line behind.
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, before)
                    raise
            finally:
                os.close(fd)
            if created:
                fsync_dir(self.path.parent)
        except OSError as exc:
            raise write_error(
                exc, self.path, doing="cannot append to the audit log"
            ) from exc

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with locked(self._lock):
                yield
        except PermissionError as exc:
            msg = f"cannot lock the audit log: {exc.strerror or exc}"
            raise InputError(
                msg, where=str(self.path), reason=Reason.INPUT_UNREADABLE
            ) from exc

    def verify(self, anchors: Sequence[str] = ()) -> tuple[int, Problem | None]:
        """Walk the chain: (lines, the first problem or None).

        A torn last line is reported and moved aside (recorded in the chain),
        so that appends can go on; any other problem is left as found.
        """
        with self._locked():
            lines, complete = self._read()
            problem = check_chain(lines, complete=complete, anchors=anchors)
            if problem is not None and problem.torn:
                self._set_aside(lines, problem)
            return len(lines), problem

    def _set_aside(self, lines: list[bytes], problem: Problem) -> None:
        torn = lines[-1]
        digest = hashlib.sha256(torn).hexdigest()
        aside = self.path.with_name(f"{AUDIT_NAME}.torn-{digest[:16]}")
        keep = b"".join(line + b"\n" for line in lines[:-1])
        try:
            aside.write_bytes(torn)
            with self.path.open("r+b") as handle:
                handle.truncate(len(keep))
                os.fsync(handle.fileno())
        except OSError as exc:
            raise write_error(
                exc, self.path, doing="cannot set the torn line aside"
            ) from exc
        prev = line_hash(lines[-2]) if len(lines) > 1 else GENESIS
        doc = {
            "v": VERSION,
            "seq": len(lines),
            "prev": prev,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "command": "audit-verify",
            "torn_line": {
                "line": problem.line,
                "bytes": len(torn),
                "sha256": digest,
                "moved_to": aside.name,
            },
        }
        self._write(
            json.dumps(doc, sort_keys=True, separators=(",", ":")).encode() + b"\n"
        )

    def recent(self, count: int) -> list[dict[str, Any]]:
        """The last ``count`` decisions (whole lines only)."""
        lines, complete = self._read()
        if not complete:
            lines = lines[:-1]
        found = []
        for line in lines[-count:] if count else []:
            with contextlib.suppress(ValueError):
                doc = strict_json.loads(line)
                if isinstance(doc, dict):
                    found.append(doc)
        return found


def describe(entry: dict[str, Any]) -> str:
    """One decision on one line: when, what, the verdicts (escaped: errors quote archives and registries)."""
    head = f"{entry.get('seq', '?'):>5} {str(entry.get('time', ''))[:19]} {entry.get('command', '?'):<13} exit {entry.get('exit_code', '-')}"
    archive = entry.get("archive")
    if isinstance(archive, dict) and archive.get("sha256"):
        head += f" archive {str(archive['sha256'])[7:19]}"
    images = entry.get("images")
    if isinstance(images, list):
        passed = sum(1 for i in images if isinstance(i, dict) and i.get("verified"))
        head += f" images {passed}/{len(images)} verified"
    pushed = entry.get("pushed")
    if isinstance(pushed, dict) and pushed.get("to"):
        head += f" -> {pushed['to']}"
    if entry.get("error"):
        head += f": {untrusted(str(entry['error']), markup=False, limit=120)}"
    return untrusted(head, markup=False, limit=LINE_LIMIT)
