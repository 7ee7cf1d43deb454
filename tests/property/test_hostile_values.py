"""Every field of real documents, given hostile values: a clean exit, always.

The review found inputs that ended in "internal error": numbers past 2**53 or
thousands of digits long, years past 9999, impossible dates, 100,000 nested
brackets, lone surrogates, ``NaN``. Fixing each where it was found is not
enough; this test is the structural guard. For each real document (bundles
of every kind, trusted roots, TUF metadata, the appliance's state, a cosign
key file), *every* field and the document itself are replaced, one at a time,
by each hostile JSON value, and the result is fed to the command that reads
it, in process. The only outcomes allowed are exit 1 or 2 (or 0 where the
value happens to be harmless), with one line on stderr, never "internal
error" and never a traceback.

Values are spliced in as raw JSON text, so that what Python's ``json`` cannot
write (``NaN``, lone surrogates, duplicate keys, absurd nesting) is tested too.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from typing import TYPE_CHECKING, Any

import pytest

from appliance.cli.main import main
from tests.helpers.cosign_keys import encrypt_cosign_key
from tests.helpers.vectors import CONFORMANCE, VECTORS, serve_root_signing

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

pytestmark = pytest.mark.slow

HOSTILE: tuple[str, ...] = (
    "null",
    "true",
    "0",
    "-1",
    "1.5",
    str(2**53),
    str(2**53 + 1),
    str(2**63),
    str(2**64),
    "9" * 40,
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    '""',
    '" "',
    '"\\u0000"',
    '"\\ud800"',
    '"x\\udfff"',
    '"' + "A" * 70_000 + '"',
    '"10000-01-01T00:00:00Z"',
    '"2023-02-30T00:00:00Z"',
    '"2026-13-01T25:61:61Z"',
    '"0000-01-01T00:00:00Z"',
    '"-1"',
    '"' + "9" * 5000 + '"',
    '"' + str(2**53) + '"',
    '"!!!"',
    '"AAAA"',
    '"\\u00e9\\u0301\\u202e"',
    "[]",
    "{}",
    "[null]",
    "[{}]",
    "[" * 100_000 + "]" * 100_000,
    '{"a": 1, "a": 2}',
    '{"x": NaN}',
)
_SENTINEL = "__hostile_value__"


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _paths(value, (*prefix, i))


def _variants(doc: Any) -> Iterator[tuple[str, bytes]]:
    """(label, bytes) for every field of ``doc`` set to every hostile value."""
    for path in _paths(doc):
        copy = json.loads(json.dumps(doc))
        if path:
            node = copy
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = _SENTINEL
            text = json.dumps(copy)
        else:
            text = json.dumps(_SENTINEL)
        for value in HOSTILE:
            spliced = text.replace(json.dumps(_SENTINEL), value, 1)
            yield (
                f"{'.'.join(map(str, path)) or '(document)'}={value[:24]}",
                (spliced.encode()),
            )


def _clean(
    run: Callable[[], int], capsys: pytest.CaptureFixture[str], label: str
) -> str | None:
    """None if the run ended cleanly, else what went wrong."""
    code = run()
    out, err = capsys.readouterr()
    if code not in (0, 1, 2):
        return f"{label}: exit {code}"
    if "internal error" in err or "Traceback" in err:
        return f"{label}: {err.strip()[:300]}"
    if code and err.count("\n") != 1:
        return f"{label}: {err.count(chr(10))} lines on stderr"
    del out
    return None


def _sweep(
    doc: Any,
    write: Callable[[bytes], object],
    run: Callable[[], int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    problems = []
    for label, data in _variants(doc):
        write(data)
        problem = _clean(run, capsys, label)
        if problem:
            problems.append(problem)
    assert problems == [], "\n".join(problems[:20])


BEACON = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
GITHUB = "https://token.actions.githubusercontent.com"
BUNDLES = {
    "v0.3-public-good": (
        CONFORMANCE / "bundle-verify/happy-path-v0.3/bundle.sigstore.json",
        None,
        BEACON,
        GITHUB,
    ),
    "v0.1-cpython": (
        VECTORS / "bundles/public-good/Python-3.12.5.tgz.sigstore",
        None,
        "thomas@python.org",
        "https://accounts.google.com",
    ),
    "rekor-v2-tsa": (
        CONFORMANCE / "bundle-verify/rekor2-happy-path/bundle.sigstore.json",
        CONFORMANCE / "bundle-verify/rekor2-happy-path/trusted_root.json",
        BEACON,
        GITHUB,
    ),
    "dsse-rekor-v2": (
        CONFORMANCE / "bundle-verify/rekor2-dsse-happy-path/bundle.sigstore.json",
        CONFORMANCE / "bundle-verify/rekor2-dsse-happy-path/trusted_root.json",
        BEACON,
        GITHUB,
    ),
    "key-signed": (
        CONFORMANCE / "bundle-verify/managed-key-happy-path/bundle.sigstore.json",
        None,
        None,
        None,
    ),
}
ARTIFACT = CONFORMANCE / "bundle-verify" / "a.txt"


@pytest.mark.parametrize("name", sorted(BUNDLES))
def test_every_bundle_field(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, root, identity, issuer = BUNDLES[name]
    bundle = tmp_path / "bundle.json"
    artifact = ARTIFACT if name != "v0.1-cpython" else None
    argv = [
        "verify-blob",
        str(artifact)
        if artifact
        else "sha256:38dc4e2c261d49c661196066edbfb70fdb16be4a79cc8220c224dfeb5636d405",
        "--bundle",
        str(bundle),
        "-o",
        "json",
    ]
    if root is not None:
        argv += ["--trusted-root", str(root)]
    if identity is None:
        argv += ["--key", str(source.parent / "key.pub")]
    else:
        argv += [
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            str(issuer),
        ]
    _sweep(
        json.loads(source.read_bytes()),
        bundle.write_bytes,
        lambda: main(argv),
        capsys,
    )


@pytest.mark.parametrize(
    "root",
    [
        VECTORS / "trust/public-good/trusted_root.json",
        CONFORMANCE / "bundle-verify/rekor2-happy-path/trusted_root.json",
    ],
    ids=["public-good", "rekor-v2-tsa"],
)
def test_every_trusted_root_field(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "trusted_root.json"
    bundle = CONFORMANCE / "bundle-verify/rekor2-happy-path/bundle.sigstore.json"
    argv = [
        "verify-blob",
        str(ARTIFACT),
        "--bundle",
        str(bundle),
        "--trusted-root",
        str(target),
        "--certificate-identity",
        BEACON,
        "--certificate-oidc-issuer",
        GITHUB,
    ]
    _sweep(
        json.loads(root.read_bytes()), target.write_bytes, lambda: main(argv), capsys
    )


@pytest.mark.parametrize(
    "name", ["timestamp.json", "14.snapshot.json", "14.targets.json", "16.root.json"]
)
def test_every_tuf_metadata_field(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real root-signing snapshot, served; one role at a time made hostile."""
    served = serve_root_signing(tmp_path / "served")
    if name == "16.root.json":  # a root that would follow v15 in the chain
        original = json.loads((served / "15.root.json").read_bytes())
        original["signed"]["version"] = 16
    else:
        found = sorted(served.glob(f"*{name.split('.', 1)[1]}"))
        target = served / name if (served / name).exists() else found[-1]
        name = target.name
        original = json.loads(target.read_bytes())
    argv = ["trust", "import", str(served), "--trust-max-age", "3650d"]
    _sweep(original, (served / name).write_bytes, lambda: main(argv), capsys)


def test_every_state_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    served = serve_root_signing(tmp_path / "served")
    argv = [
        "trust",
        "import",
        str(served),
        "--bootstrap-root",
        str(VECTORS / "tuf/root-signing/metadata/root_history/5.root.json"),
        "--trust-max-age",
        "3650d",
    ]
    assert main(argv) == 0
    capsys.readouterr()
    state = tmp_path / "appliance-state" / "trust" / "state.json"
    original = json.loads(state.read_bytes())
    keep = tmp_path / "state.json.orig"
    shutil.copy(state, keep)

    def show_then_verify() -> int:
        shown = main(["trust", "show", "-o", "json"])
        _, err = capsys.readouterr()
        if "internal error" in err or "Traceback" in err:
            print(err, end="", file=__import__("sys").stderr)
            return 99
        del shown
        return main(
            [
                "verify-blob",
                str(ARTIFACT),
                "--bundle",
                str(CONFORMANCE / "bundle-verify/happy-path-v0.3/bundle.sigstore.json"),
                "--certificate-identity",
                BEACON,
                "--certificate-oidc-issuer",
                GITHUB,
            ]
        )

    _sweep(original, state.write_bytes, show_then_verify, capsys)


def test_every_memory_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state_dir = tmp_path / "appliance-state"
    state_dir.mkdir()
    clock = {"version": 1, "floor": "2026-01-01T00:00:00Z", "source": "test"}
    logs = {
        "version": 1,
        "checkpoints": {
            "rekor.sigstore.dev - 1": {"12": base64.b64encode(b"r" * 32).decode()}
        },
        "split": {
            "00" * 32: {
                "origin": "o",
                "size": 1,
                "roots": ["AA==", "AQ=="],
                "detected_at": "2026-01-01T00:00:00Z",
            }
        },
    }
    argv = ["trust", "show"]
    _sweep(clock, (state_dir / "clock.json").write_bytes, lambda: main(argv), capsys)
    (state_dir / "clock.json").unlink()
    argv = [
        "verify-blob",
        str(ARTIFACT),
        "--bundle",
        str(CONFORMANCE / "bundle-verify/happy-path-v0.3/bundle.sigstore.json"),
        "--certificate-identity",
        BEACON,
        "--certificate-oidc-issuer",
        GITHUB,
    ]
    _sweep(logs, (state_dir / "logs.json").write_bytes, lambda: main(argv), capsys)


def test_every_cosign_key_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "airlock")
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    key = tmp_path / "cosign.key"
    key.write_bytes(
        encrypt_cosign_key(ec.generate_private_key(ec.SECP256R1()), "airlock")
    )
    match = re.search(
        rb"-----BEGIN (.+?)-----\n(.+?)-----END", key.read_bytes(), re.DOTALL
    )
    assert match is not None
    label, body = match.group(1), base64.b64decode(match.group(2))
    (tmp_path / "a").write_bytes(b"a")

    def write(data: bytes) -> None:
        encoded = base64.encodebytes(data)
        key.write_bytes(
            b"-----BEGIN "
            + label
            + b"-----\n"
            + encoded
            + b"-----END "
            + label
            + b"-----\n"
        )

    argv = [
        "sign-blob",
        str(tmp_path / "a"),
        "--key",
        str(key),
        "--bundle",
        str(tmp_path / "b"),
    ]
    _sweep(json.loads(body), write, lambda: main(argv), capsys)
