"""Every registry command, sealed, against docker-registry configured as real sites run it (#21).

For each site (TLS from a private CA with token auth whose tokens live 2 s;
mutual TLS; htpasswd over TLS): ``appliance load`` twice (the re-run finds
every blob), ``inventory --registry``, ``sign`` and ``attest`` with a PEM
key, each in a fresh sealed interpreter (``python -m appliance``) with the
machine's CA variables unset; then ``bundle-tools export`` of two
repositories back out of the site. Then the bad set-ups: one line naming the
host and the cause, exit 2, nothing pushed.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bundle_tools.cli import main as bundle_tools
from tests.helpers import pki, token_server
from tests.helpers import registry as registry_mod
from tests.helpers.exported import KEYLESS, Exported

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.helpers.registry import Registry

pytestmark = [pytest.mark.registry, pytest.mark.network]
USER, PASSWORD = "gap-operator", "Site-s3cret-pw"
_UNSET = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _UNSET:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["token", "mutual", "basic"])
def site(
    request: pytest.FixtureRequest, tmp_path: Path, loopback: None
) -> Iterator[Registry]:
    del loopback
    ca = pki.make_ca(tmp_path / "ca")
    tokens = None
    if request.param == "token":
        tokens = token_server.start(
            ca, token_server.Policy(users={USER: PASSWORD}, expires_in=2)
        )
    try:
        server = registry_mod.start(
            tmp_path / "site",
            ca=ca,
            mutual=request.param == "mutual",
            token_server=tokens,
            credentials=(USER, PASSWORD) if request.param == "basic" else None,
        )
        try:
            yield server
        finally:
            server.stop()
    finally:
        if tokens is not None:
            tokens.stop()


def _flags(site: Registry) -> list[str]:
    assert site.ca is not None
    flags = ["--registry-cacert", str(site.ca.cert)]
    if site.client is not None:
        flags += [
            "--registry-client-cert",
            str(site.client.cert),
            "--registry-client-key",
            str(site.client.key),
        ]
    if site.token_server is not None or site.credentials is not None:
        flags += ["--registry-username", USER]
    return flags


def _sealed(
    tmp_path: Path, *argv: str, stdin: str = PASSWORD
) -> tuple[int, dict[str, object], str]:
    done = subprocess.run(
        [sys.executable, "-m", "appliance", *argv],
        input=stdin + "\n",
        capture_output=True,
        text=True,
        timeout=240,
        env={
            "PATH": os.environ["PATH"],
            "APPLIANCE_STATE_DIR": str(tmp_path / "state"),
            "DOCKER_CONFIG": str(tmp_path / "no-docker-config"),
        },
        check=False,
    )
    assert PASSWORD not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
    return done.returncode, report, done.stderr


def _key(tmp_path: Path) -> Path:
    path = tmp_path / "signer.pem"
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.mark.slow
def test_every_registry_command_against_the_site(
    site: Registry,
    exported: Exported,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    load = [
        "load",
        str(exported.archive),
        "--to",
        site.address,
        "--trusted-root",
        str(exported.root),
        *KEYLESS,
        "--image",
        exported.ref("app"),
        "--image",
        exported.ref("multi"),
        "-o",
        "json",
        *_flags(site),
    ]
    code, first, err = _sealed(tmp_path, *load)
    assert code == 0, err
    pushed = first["load"]["pushed"]  # type: ignore[index]
    assert pushed["blobs_sent"] > 0
    assert site.address in pushed["hosts"]
    if site.token_server is not None:
        assert site.token_server.realm.split("/")[2] in pushed["hosts"]
    code, again, err = _sealed(tmp_path, *load)
    assert code == 0, err
    assert again["load"]["pushed"]["blobs_sent"] == 0  # type: ignore[index]
    assert again["load"]["pushed"]["blobs_already_held"] >= pushed["blobs_sent"]  # type: ignore[index]

    inventory = tmp_path / "inventory.json"
    code, _, err = _sealed(
        tmp_path,
        "inventory",
        "-o",
        str(inventory),
        "--registry",
        site.address,
        *_flags(site),
    )
    assert code == 0, err
    assert json.loads(inventory.read_text())

    app = f"{site.address}/verify/app:v1"
    key = _key(tmp_path)
    code, signed, err = _sealed(
        tmp_path, "sign", app, "--key", str(key), "-o", "json", *_flags(site)
    )
    assert code == 0, err
    assert signed["written"], signed
    predicate = tmp_path / "predicate.json"
    predicate.write_text(json.dumps({"builder": {"id": "https://airlock.test/site"}}))
    code, _, err = _sealed(
        tmp_path,
        "attest",
        app,
        "--key",
        str(key),
        "--predicate",
        str(predicate),
        "--type",
        "https://slsa.dev/provenance/v1",
        "-o",
        "json",
        *_flags(site),
    )
    assert code == 0, err

    # Back out through the exporter: two repositories in one call.
    assert site.ca is not None
    config = tmp_path / "docker" / "config.json"
    config.parent.mkdir()
    config.write_text(
        json.dumps(
            {
                "auths": {
                    site.address: {
                        "auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                    }
                }
            }
        )
    )
    os.environ["DOCKER_CONFIG"] = str(config.parent)
    try:
        argv = [
            "export",
            app,
            f"{site.address}/verify/multi:v2",
            "--out",
            str(tmp_path / "out.tar"),
            "--no-trust",
        ]
        argv += [
            "--cache",
            str(tmp_path / "cache"),
            "-o",
            "json",
            "--registry-cacert",
            str(site.ca.cert),
        ]
        if site.client is not None:
            argv += [
                "--registry-client-cert",
                str(site.client.cert),
                "--registry-client-key",
                str(site.client.key),
            ]
        capsys.readouterr()
        code = bundle_tools(argv)
        captured = capsys.readouterr()
        assert code == 0, captured.err
    finally:
        del os.environ["DOCKER_CONFIG"]
    assert PASSWORD not in captured.out + captured.err
    # Credentials never reach the audit log or any state file.
    state = [p for p in (tmp_path / "state").rglob("*") if p.is_file()]
    assert state
    assert not [p for p in state if PASSWORD.encode() in p.read_bytes()]
    audit = b"".join(p.read_bytes() for p in state if "audit" in p.name)
    assert site.address.encode() in audit
    if site.token_server is not None:  # every host contacted is in the audit line
        assert site.token_server.realm.split("/")[2].encode() in audit


# -- bad set-ups: one line, exit 2, nothing pushed ---------------------------------------


@pytest.fixture
def token_site(tmp_path: Path, loopback: None) -> Iterator[Registry]:
    del loopback
    ca = pki.make_ca(tmp_path / "ca")
    tokens = token_server.start(ca, token_server.Policy(users={USER: PASSWORD}))
    server = registry_mod.start(tmp_path / "site", ca=ca, token_server=tokens)
    try:
        yield server
    finally:
        server.stop()
        tokens.stop()


def _load(exported: Exported, site: Registry, *flags: str) -> list[str]:
    return [
        "load",
        str(exported.archive),
        "--to",
        site.address,
        "--trusted-root",
        str(exported.root),
        *KEYLESS,
        "--image",
        exported.ref("app"),
        "-o",
        "json",
        *flags,
    ]


def _nothing_pushed(site: Registry) -> None:
    assert site._repositories() == []


def _one_line(err: str) -> str:
    lines = [x for x in err.strip().splitlines() if "waiting" not in x]
    assert len(lines) == 1, err
    return lines[0]


def test_an_unknown_ca(
    token_site: Registry, exported: Exported, tmp_path: Path
) -> None:
    code, _, err = _sealed(
        tmp_path, *_load(exported, token_site, "--registry-username", USER)
    )
    assert code == 2
    line = _one_line(err)
    assert (
        f"TLS to {token_site.address} failed: its certificate is signed by an unknown CA"
        in line
    )
    _nothing_pushed(token_site)


def test_a_wrong_password(
    token_site: Registry, exported: Exported, tmp_path: Path
) -> None:
    assert token_site.ca is not None
    flags = ["--registry-cacert", str(token_site.ca.cert), "--registry-username", USER]
    code, _, err = _sealed(
        tmp_path, *_load(exported, token_site, *flags), stdin="Not-the-pw-42"
    )
    assert code == 2
    line = _one_line(err)
    assert "refused the credentials given" in line
    assert "Not-the-pw-42" not in err
    _nothing_pushed(token_site)


def test_a_token_server_that_refuses_push(
    token_site: Registry, exported: Exported, tmp_path: Path
) -> None:
    assert token_site.ca is not None
    assert token_site.token_server is not None
    token_site.token_server.policy.push = False
    flags = ["--registry-cacert", str(token_site.ca.cert), "--registry-username", USER]
    code, _, err = _sealed(tmp_path, *_load(exported, token_site, *flags))
    assert code == 2
    line = _one_line(err)
    assert "did not grant repository:" in line
    assert ":pull,push" in line
    _nothing_pushed(token_site)


def test_a_wrong_client_certificate(
    tmp_path: Path, exported: Exported, loopback: None
) -> None:
    del loopback
    ca = pki.make_ca(tmp_path / "ca")
    site = registry_mod.start(tmp_path / "site", ca=ca, mutual=True)
    try:
        stranger = pki.make_ca(tmp_path / "stranger").issue("intruder", client=True)
        flags = [
            "--registry-cacert",
            str(ca.cert),
            "--registry-client-cert",
            str(stranger.cert),
            "--registry-client-key",
            str(stranger.key),
        ]
        code, _, err = _sealed(tmp_path, *_load(exported, site, *flags))
        assert code == 2
        line = _one_line(err)
        assert site.address in line
        assert "client" in line
        _nothing_pushed(site)
    finally:
        site.stop()
