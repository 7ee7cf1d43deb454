"""Registry credentials from the Docker config, as docker and cosign find them.

``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``: an inline
``auths.<host>.auth`` (base64 of ``user:password``), a per-host
``credHelpers`` entry or a ``credsStore``, whose ``docker-credential-<name>``
helper is asked (``get``, the host on stdin). oras-py reads only the default
path and ignores ``DOCKER_CONFIG``, so the lookup is done here and handed to
oras as basic credentials. Nothing here ever prints a secret.
"""

from __future__ import annotations

import base64
import binascii
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from airlock_io import inputs
from appliance.core.errors import InputError, Reason
from trustroot import strict_json
from trustroot.strict_json import StrictJSONError


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user name and its secret (never shown by ``repr``)."""

    username: str
    password: str = field(repr=False)
    # An identity (refresh) token from `docker login` against an OAuth2 token
    # server: sent as grant_type=refresh_token, never as a password.
    identity_token: str | None = field(default=None, repr=False)


def config_path() -> Path:
    """Where the Docker config is: ``$DOCKER_CONFIG/config.json`` or ``~/.docker``."""
    directory = os.environ.get("DOCKER_CONFIG")
    base = Path(directory) if directory else Path.home() / ".docker"
    return base / "config.json"


def _hosts(host: str) -> list[str]:
    # docker writes Docker Hub's credentials under its old index URL.
    names = [host, f"https://{host}", f"http://{host}"]
    if host in {"docker.io", "registry-1.docker.io"}:
        names += ["https://index.docker.io/v1/", "index.docker.io"]
    return names


def _helper(name: str, host: str) -> Credentials | None:
    binary = f"docker-credential-{name}"
    try:
        done = subprocess.run(  # noqa: S603 - the helper the config names, as docker runs it
            [binary, "get"],
            input=host.encode(),
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        msg = f"credential helper {binary} could not be run ({exc})"
        raise InputError(
            msg, where=str(config_path()), reason=Reason.INPUT_UNREADABLE
        ) from exc
    if done.returncode != 0:
        return None  # "credentials not found": anonymous access may still work
    try:
        doc = strict_json.loads(done.stdout)
        username, secret = str(doc["Username"]), str(doc["Secret"])
    except (StrictJSONError, KeyError, TypeError) as exc:
        msg = f"credential helper {binary} answered something that is not credentials"
        raise InputError(msg, where=str(config_path())) from exc
    if username == "<token>":  # docker-credential-helpers' marker of an identity token
        return Credentials(username="", password="", identity_token=secret)
    return Credentials(username=username, password=secret)


def lookup(host: str) -> Credentials | None:
    """The credentials the Docker config holds for ``host``, if any.

    Raises:
        InputError: the config exists but cannot be read or parsed.
    """
    path = config_path()
    if not path.exists():
        return None
    data = inputs.read_file(
        path, what="Docker config", max_bytes=inputs.MAX_KEY_BYTES * 16
    )
    try:
        doc = strict_json.loads(data)
    except StrictJSONError as exc:
        raise InputError(f"not valid JSON ({exc})", where=str(path)) from exc
    if not isinstance(doc, dict):
        raise InputError("not a JSON object", where=str(path))
    auths = doc.get("auths") or {}
    helpers = doc.get("credHelpers") or {}
    for name in _hosts(host):
        entry = auths.get(name) if isinstance(auths, dict) else None
        if isinstance(entry, dict) and isinstance(entry.get("identitytoken"), str):
            return Credentials(
                username="", password="", identity_token=entry["identitytoken"]
            )
        if isinstance(entry, dict) and entry.get("auth"):
            try:
                user, _, password = (
                    base64.b64decode(str(entry["auth"]), validate=True)
                    .decode()
                    .partition(":")
                )
            except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
                msg = f"auths.{name}.auth is not base64 of user:password"
                raise InputError(msg, where=str(path)) from exc
            return Credentials(username=user, password=password)
        if isinstance(helpers, dict) and isinstance(helpers.get(name), str):
            return _helper(helpers[name], host)
    store = doc.get("credsStore")
    if isinstance(store, str) and store:
        return _helper(store, host)
    return None
