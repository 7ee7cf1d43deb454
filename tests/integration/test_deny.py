"""``[[deny]]`` in the policy file, on the exported world's real archive, through ``appliance verify``.

``app:v1`` is signed twice (tests/helpers/world.py): keylessly by
``release@airlock.test`` (a Fulcio certificate, a Rekor entry) and with the
release key. The policy demands both (threshold 2), so denying either signer
fails the image, and the report says which entry denied it and why. Each
entry kind is tried undated, dated at or before the verified signing time
(denied) and dated after it (the older signature still counts).
"""

from __future__ import annotations

import base64
import json
import shutil
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from cryptography import x509

from appliance.core import keys
from tests.helpers.sigstore_stack.stack import DEFAULT_ISSUER
from tests.helpers.world import IDENTITY

if TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers.exported import Exported, Outcome

pytestmark = pytest.mark.registry

POLICY = f"""\
version = 1

[[rules]]
match = ["**/verify/app"]
threshold = 2

  [[rules.signers]]
  identity = "{IDENTITY}"
  issuer = "{DEFAULT_ISSUER}"

  [[rules.signers]]
  key = "release.pub"
"""
# The first [[deny]] table's line in every policy below.
DENY_LINE = POLICY.count("\n") + 2


def _run(verify: Any, exported: Exported, tmp_path: Path, deny: str = "") -> Outcome:
    shutil.copy(exported.key, tmp_path / "release.pub")
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY + deny)
    out: Outcome = verify(
        exported.archive,
        "--trusted-root",
        str(exported.root),
        "--policy",
        str(policy),
        "--image",
        exported.ref("app"),
    )
    return out


@pytest.fixture(scope="module")
def facts(exported: Exported) -> dict[str, Any]:
    """What the entries name: the app's digest, its log entries, key id, CA serial."""
    root = json.loads(exported.root.read_bytes())
    ca = root["certificateAuthorities"][0]["certChain"]["certificates"][0]
    serial = x509.load_der_x509_certificate(base64.b64decode(ca["rawBytes"]))
    key = keys.load_pem(exported.key.read_bytes(), where="release.pub")
    log_id = base64.b64decode(root["tlogs"][0]["logId"]["keyId"]).hex()
    return {
        "log_id": log_id,
        "ca_serial": f"{serial.serial_number:x}",
        "key_id": keys.key_id(key).hex(),
    }


@pytest.fixture
def baseline(
    verify: Any, exported: Exported, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    out = _run(verify, exported, tmp_path_factory.mktemp("baseline"))
    assert out.code == 0, out.err
    return out.image("app")


def _signed(image: dict[str, Any], *, keyless: bool) -> dict[str, Any]:
    return next(
        s
        for s in image["signatures"]
        if s["verified"] and (s["key_id"] is None) == keyless
    )


def _entries(
    facts: dict[str, Any], image: dict[str, Any]
) -> dict[str, tuple[str, bool]]:
    """Each entry kind: its TOML, and whether it names the keyless signature (else the key's)."""
    keyless = _signed(image, keyless=True)
    return {
        "identity": (f'identity = "{IDENTITY}"\nissuer = "{DEFAULT_ISSUER}"', True),
        "identity_regexp": (
            'identity_regexp = "^release@"\nissuer_regexp = "."',
            True,
        ),
        "key": ('key = "release.pub"', False),
        "key_id": (f'key_id = "{facts["key_id"]}"', False),
        "log": (f'log = "{facts["log_id"]}:{keyless["log_index"]}"', True),
        "certificate_serial": (
            f'certificate_serial = "{facts["ca_serial"]}"',
            True,
        ),
    }


def _since(image: dict[str, Any], keyless: bool, shift: timedelta) -> str:
    signed = _signed(image, keyless=keyless)["signing_time"]
    when = datetime.strptime(signed, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) + shift
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


KINDS = ["identity", "identity_regexp", "key", "key_id", "log", "certificate_serial"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shift", [None, timedelta(0), -timedelta(days=30)])
def test_a_denied_signer_does_not_count(
    verify: Any,
    exported: Exported,
    tmp_path: Path,
    facts: dict[str, Any],
    baseline: dict[str, Any],
    kind: str,
    shift: timedelta | None,
) -> None:
    entry, keyless = _entries(facts, baseline)[kind]
    dated = "" if shift is None else f"\nsince = {_since(baseline, keyless, shift)}"
    out = _run(
        verify,
        exported,
        tmp_path,
        f'\n[[deny]]\n{entry}\nreason = "CVE-2026-1234: stolen"{dated}\n',
    )
    assert out.code == 1, out.err
    app = out.image("app")
    assert app["verified"] is False
    assert app["message"] == "image: 1 of the 2 required signers signed"
    denied = [s for s in app["signatures"] if s["reason"] == "denied-signer"]
    assert len(denied) == 1
    assert (denied[0]["key_id"] is None) == keyless
    assert f"deny entry {tmp_path / 'policy.toml'}:{DENY_LINE}" in denied[0]["message"]
    assert "CVE-2026-1234: stolen" in denied[0]["message"]
    # The other signer still counts.
    assert len([s for s in app["signatures"] if s["policy_signers"]]) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_signer_denied_from_a_later_date_still_counts(
    verify: Any,
    exported: Exported,
    tmp_path: Path,
    facts: dict[str, Any],
    baseline: dict[str, Any],
    kind: str,
) -> None:
    entry, keyless = _entries(facts, baseline)[kind]
    since = _since(baseline, keyless, timedelta(seconds=1))
    out = _run(
        verify,
        exported,
        tmp_path,
        f'\n[[deny]]\n{entry}\nreason = "compromised"\nsince = {since}\n',
    )
    assert out.code == 0, out.err
    assert not any(
        s["reason"] == "denied-signer" for s in out.image("app")["signatures"]
    )


def test_a_denied_digest_fails_whatever_signed_it(
    verify: Any, exported: Exported, tmp_path: Path, baseline: dict[str, Any]
) -> None:
    out = _run(
        verify,
        exported,
        tmp_path,
        f'\n[[deny]]\ndigest = "{baseline["digest"]}"\nreason = "malicious build"\n',
    )
    assert out.code == 1
    app = out.image("app")
    assert app["reason"] == "denied-digest"
    assert app["message"] == (
        f"denied: deny entry {tmp_path / 'policy.toml'}:{DENY_LINE} (digest): malicious build"
    )
    # Every signature verified: the digest alone decided.
    assert len([s for s in app["signatures"] if s["policy_signers"]]) == 2


@pytest.mark.parametrize(
    ("shift", "code"), [(timedelta(0), 1), (timedelta(seconds=1), 0)]
)
def test_a_dated_digest_denies_its_signatures_from_that_date(
    verify: Any,
    exported: Exported,
    tmp_path: Path,
    baseline: dict[str, Any],
    shift: timedelta,
    code: int,
) -> None:
    # Both signatures were logged: the later of their times decides "from".
    since = max(
        _since(baseline, keyless=True, shift=shift),
        _since(baseline, keyless=False, shift=shift),
    )
    out = _run(
        verify,
        exported,
        tmp_path,
        f'\n[[deny]]\ndigest = "{baseline["digest"]}"\nreason = "r"\nsince = {since}\n',
    )
    assert out.code == code, out.err
    if code:
        assert any(
            s["reason"] == "denied-signer" for s in out.image("app")["signatures"]
        )


def test_a_digest_of_another_image_denies_nothing(
    verify: Any, exported: Exported, tmp_path: Path
) -> None:
    out = _run(
        verify,
        exported,
        tmp_path,
        f'\n[[deny]]\ndigest = "sha256:{"0" * 64}"\nreason = "r"\n',
    )
    assert out.code == 0, out.err


def test_a_bad_deny_entry_is_an_input_error_naming_its_line(
    verify: Any, exported: Exported, tmp_path: Path
) -> None:
    out = _run(verify, exported, tmp_path, '\n[[deny]]\nlog = "nope"\nreason = "r"\n')
    assert out.code == 2
    assert f"policy.toml:{DENY_LINE + 1}" in out.err


def test_export_verify_with_applies_the_policys_deny_entries(
    exported: Exported, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.integration.test_verify_archive import (  # noqa: PLC0415
        _export_verified,
    )

    shutil.copy(exported.key, tmp_path / "release.pub")
    policy = tmp_path / "policy.toml"
    policy.write_text(
        POLICY.replace("threshold = 2", "threshold = 1")
        + f'\n[[deny]]\ndigest = "{exported.world.app.digest}"\nreason = "recalled"\n'
    )
    assert _export_verified(exported, tmp_path, policy, exported.ref("app")) == 1
    error = json.loads(capsys.readouterr().out)
    assert error["reason"] == "denied-digest"
    assert "recalled" in error["error"]
    assert "nothing was written" in error["error"]
