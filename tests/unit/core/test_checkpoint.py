"""Signed-note checkpoints: parse, find the log's line among others, verify."""

from __future__ import annotations

import base64
import sys

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from appliance.core.checkpoint import Checkpoint
from appliance.core.errors import Reason, VerificationError

KEY = ec.generate_private_key(ec.SECP256R1())
HINT = b"\x01\x02\x03\x04"
ROOT = base64.b64encode(b"r" * 32).decode()
BODY = f"log.example - 7\n12\n{ROOT}\n"


def _line(name: str, hint: bytes, signature: bytes) -> str:
    return f"\u2014 {name} {base64.b64encode(hint + signature).decode()}\n"


def _note(*lines: str, body: str = BODY) -> str:
    return body + "\n" + "".join(lines)


def _good(body: str = BODY) -> str:
    return _line(
        "log.example", HINT, KEY.sign(body.encode(), ec.ECDSA(hashes.SHA256()))
    )


def test_parse_and_verify() -> None:
    cp = Checkpoint.from_text(_note(_good()))
    assert (cp.origin, cp.size, cp.root_hash) == ("log.example - 7", 12, b"r" * 32)
    cp.verify(KEY.public_key(), names=frozenset({"log.example"}), hint=HINT)


def test_other_lines_in_any_order_are_ignored() -> None:
    witness = ed25519.Ed25519PrivateKey.generate()
    other = _line("witness.example", b"\x09" * 4, witness.sign(BODY.encode()))
    cp = Checkpoint.from_text(
        _note(other, _line("log.example", b"\xff" * 4, b"x" * 64), _good())
    )
    cp.verify(KEY.public_key(), names=frozenset({"log.example"}), hint=HINT)


def test_extension_lines_are_signed() -> None:
    body = BODY + "Timestamp: 1675209600000000000\n"
    cp = Checkpoint.from_text(_note(_good(body), body=body))
    assert cp.extensions == ("Timestamp: 1675209600000000000",)
    cp.verify(KEY.public_key(), names=frozenset({"log.example"}), hint=HINT)


@pytest.mark.parametrize(
    ("names", "hint"),
    [
        (frozenset({"other.example"}), HINT),
        (frozenset({"log.example"}), b"\x00\x00\x00\x00"),
    ],
    ids=["name", "hint"],
)
def test_no_line_from_the_log(names: frozenset[str], hint: bytes) -> None:
    origin = next(iter(names))
    body = BODY.replace("log.example", origin)
    cp = Checkpoint.from_text(_note(_good(body), body=body))
    with pytest.raises(VerificationError, match="no signature from") as caught:
        cp.verify(KEY.public_key(), names=names, hint=hint)
    assert caught.value.reason is Reason.CHECKPOINT_INVALID


def test_signature_over_other_text_fails() -> None:
    cp = Checkpoint.from_text(_note(_good(BODY.replace("12", "13")), body=BODY))
    with pytest.raises(VerificationError, match="does not verify"):
        cp.verify(KEY.public_key(), names=frozenset({"log.example"}), hint=HINT)


# Named by their index and what they must say: the texts hold fresh
# signatures, and a test's name must not change from one collection to the
# next (pytest-xdist's workers each collect the suite).
MALFORMED = [
    (BODY, "no blank line"),
    (_note(""), "no blank line|signature"),
    (BODY + "\n" + "\u2014 log.example AAAA", "end with a newline"),
    (BODY + "\n" + "- log.example AAAAAAAA\n", "malformed signature line"),
    (BODY + "\n" + "\u2014 log.example !!!!\n", "not base64"),
    (BODY + "\n" + "\u2014 log.example AAAA\n", "too short"),
    (_note(_good(), body=f"\n12\n{ROOT}\n"), "origin"),
    (_note(_good(), body=f"log\ntwelve\n{ROOT}\n"), "not a decimal int64"),
    (_note(_good(), body="log\n12\n"), "origin, size or root hash"),
    (_note(_good(), body="log\n12\nAAAA\n"), "32 bytes"),
    # C2SP signed-note: no ASCII control character but newline in the text
    (_note(_good(), body=f"log\x1b[2J\n12\n{ROOT}\n"), "control character"),
    (_note(_good(), body=f"log\n12\n{ROOT}\nTime: 1\r\n"), "control character"),
    (_note(_good(), body=f"log\t7\n12\n{ROOT}\n"), "control character"),
    (_note(_good(), body=f"log\x7f\n12\n{ROOT}\n"), "control character"),
    (_note(_good(), body=f"log\x00\n12\n{ROOT}\n"), "control character"),
    # ... and a key name holds no Unicode space and no "+"
    (_note(_line("log+example", HINT, b"x" * 64)), "space or"),
    (_note(_line("log\u00a0example", HINT, b"x" * 64)), "space or"),
    (_note(_line("log\u2003example", HINT, b"x" * 64)), "space or"),
]


@pytest.mark.parametrize(
    ("text", "needle"),
    MALFORMED,
    ids=[f"{n}-{needle}" for n, (_, needle) in enumerate(MALFORMED)],
)
def test_malformed_notes(text: str, needle: str) -> None:
    with pytest.raises(VerificationError, match=needle):
        Checkpoint.from_text(text)


# -- C2SP signed-note rules (hardening) ----------------------------------------

NAMES = frozenset({"log.example"})


@pytest.mark.parametrize(
    "origin",
    [
        "other.example - 7",
        "log.example.evil - 7",
        "log.example - 7 extra",
        "log.example -7",
        "log.example - ",
        "evil.log.example",
        "log.example/path",
    ],
)
def test_origin_must_name_the_log(origin: str) -> None:
    body = BODY.replace("log.example - 7", origin)
    cp = Checkpoint.from_text(_note(_good(body), body=body))
    with pytest.raises(VerificationError, match="does not name the log"):
        cp.verify(KEY.public_key(), names=NAMES, hint=HINT)


@pytest.mark.parametrize("origin", ["log.example - 7", "log.example"])
def test_rekor_v1_and_v2_origins(origin: str) -> None:
    body = BODY.replace("log.example - 7", origin)
    Checkpoint.from_text(_note(_good(body), body=body)).verify(
        KEY.public_key(), names=NAMES, hint=HINT
    )


def test_a_failing_line_from_the_log_rejects_the_note_whatever_follows() -> None:
    """C2SP signed-note: a known key's bad signature rejects the note."""
    bad = _line("log.example", HINT, b"\x30\x06\x02\x01\x01\x02\x01\x01")
    for order in ((bad, _good()), (_good(), bad)):
        cp = Checkpoint.from_text(_note(*order))
        with pytest.raises(VerificationError, match="does not verify"):
            cp.verify(KEY.public_key(), names=NAMES, hint=HINT)


def test_at_most_one_hundred_signature_lines() -> None:
    witness = _line("witness.example", b"\x09" * 4, b"s" * 64)
    Checkpoint.from_text(_note(*([witness] * 99), _good()))
    with pytest.raises(VerificationError, match="101 signature lines"):
        Checkpoint.from_text(_note(*([witness] * 100), _good()))


def test_a_flood_of_signature_lines_is_refused_before_any_is_decoded() -> None:
    # The review's note: 126,843 bad lines took 10.6 s and 170 MB, then passed.
    flood = _line("log.example", HINT, b"x" * 64) * 126_843
    with pytest.raises(VerificationError, match="126844 signature lines"):
        Checkpoint.from_text(_note(flood, _good()))


@pytest.mark.parametrize(
    ("size", "needle"),
    [
        ("9" * 20, "not a decimal int64"),
        ("9" * 5000, "not a decimal int64"),
        ("9223372036854775808", "out of range"),
        ("012", "not a decimal int64"),
        ("-1", "not a decimal int64"),
        ("١٢", "not a decimal int64"),
    ],
)
def test_sizes_beyond_int64(size: str, needle: str) -> None:
    body = BODY.replace("\n12\n", f"\n{size}\n")
    with pytest.raises(VerificationError, match=needle):
        Checkpoint.from_text(_note(_good(body), body=body))


def test_lone_surrogate_in_the_text_is_refused() -> None:
    body = BODY.replace("log.example", "log.\ud800example")
    with pytest.raises(VerificationError, match="not valid Unicode"):
        Checkpoint.from_text(body + "\n" + _line("x", HINT, b"y" * 8))


def test_a_key_name_s_forbidden_characters_are_str_isspace_and_plus() -> None:
    """The signature line's name check is one regex: on every code point it
    decides as ``ch.isspace() or ch == "+"`` does."""
    from appliance.core.checkpoint import _SPACE_OR_PLUS  # noqa: PLC0415

    differ = [
        hex(point)
        for point in range(sys.maxunicode + 1)
        if (chr(point).isspace() or chr(point) == "+")
        != (_SPACE_OR_PLUS.search(chr(point)) is not None)
    ]
    assert differ == []
