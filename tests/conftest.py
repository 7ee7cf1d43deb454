"""Shared fixtures: the network guard, a fixed clock and the real test parts.

Every real part is started by the suite itself: Debian's docker-registry on
127.0.0.1, a SoftHSM token, a local Sigstore stack and a TUF repository. The
network guard refuses every socket unless a test asks for ``loopback``.
"""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

from tests.helpers import netguard
from tests.helpers import registry as registry_mod
from tests.helpers import softhsm as softhsm_mod
from tests.helpers.sigstore_stack import SigstoreStack
from tests.helpers.tuf_repo import TufRepo

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.helpers.exported import Exported

ASSETS = Path(__file__).parent / "assets"
# No wall-clock deadline per example: on a loaded 2-CPU machine (CI, or
# sessions side by side) a 200 ms deadline fails a property without saying
# anything about the rule it pins; speed is measured in benchmarks/, never here.
settings.register_profile("airlock", deadline=None)
settings.load_profile("airlock")
# A fixed "now" for every test: no test reads the clock (docs/development.md §5).
FIXED_NOW = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)


def pytest_configure(config: pytest.Config) -> None:
    del config
    netguard.install()
    # The interruption tests send SIGINT to the children they start, and a
    # child inherits an ignored SIGINT (a shell's background job starts so,
    # POSIX.1-2017 XCU 2.11): it would never see one. A handled signal is
    # reset to its default across exec, so handling it here reaches them.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own appliance state directory and exporter cache, never the user's."""
    state = tmp_path / "appliance-state"
    monkeypatch.setenv("APPLIANCE_STATE_DIR", str(state))
    monkeypatch.setenv("BUNDLE_TOOLS_CACHE", str(tmp_path / "bundle-tools-cache"))
    return state


@pytest.fixture
def loopback() -> Iterator[None]:
    """Admit loopback sockets (and nothing else) for one test."""
    with netguard.loopback():
        yield


@pytest.fixture
def fixed_now() -> datetime:
    """The reference time tests pass as ``now``."""
    return FIXED_NOW


@pytest.fixture
def asset() -> Callable[[str], Path]:
    """Return the path of a committed test asset, failing if it is missing."""

    def _asset(name: str) -> Path:
        path = ASSETS / name
        if not path.exists():
            msg = f"missing test asset {name} (see tests/assets/README.md)"
            raise FileNotFoundError(msg)
        return path

    return _asset


@pytest.fixture(scope="session")
def _registry_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[registry_mod.Registry]:
    server = registry_mod.start(tmp_path_factory.mktemp("registry"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def exported(
    _registry_server: registry_mod.Registry, tmp_path_factory: pytest.TempPathFactory
) -> Exported:
    """The world and its troubles, exported once for the session (integration and property tests)."""
    from tests.helpers.exported import export_world  # noqa: PLC0415 - the exporter only for tests that export

    return export_world(_registry_server, tmp_path_factory.mktemp("exported-world"))


@pytest.fixture
def registry(
    _registry_server: registry_mod.Registry, loopback: None
) -> registry_mod.Registry:
    """Debian's docker-registry on 127.0.0.1, one per session, temporary storage."""
    del loopback
    return _registry_server


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[softhsm_mod.SoftHsm]:
    """A private SoftHSM configuration and token, fresh for the session.

    ``SOFTHSM2_CONF`` is exported for the session: the module reads it once,
    when it is first loaded.
    """
    hsm = softhsm_mod.create(tmp_path_factory.mktemp("softhsm"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", str(hsm.conf_path))
        yield hsm
    os.environ.pop("SOFTHSM2_CONF", None)


@pytest.fixture
def sigstore_stack(fixed_now: datetime) -> SigstoreStack:
    """A fresh local Sigstore instance whose clock is ``fixed_now``."""
    return SigstoreStack(now=fixed_now)


@pytest.fixture
def tuf_repo(sigstore_stack: SigstoreStack) -> TufRepo:
    """A published TUF repository whose targets describe ``sigstore_stack``.

    Dated from the wall clock, the one exception to ``fixed_now``: python-tuf's
    ngclient, which the online side uses, reads the clock itself and offers no
    reference-time input. Offline replay tests build their own ``TufRepo``.
    """
    repo = TufRepo(now=datetime.now(UTC))
    repo.add_target("trusted_root.json", sigstore_stack.trusted_root_json())
    repo.add_target("signing_config.v0.2.json", sigstore_stack.signing_config_json())
    repo.publish()
    return repo
