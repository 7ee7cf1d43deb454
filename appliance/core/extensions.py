"""Fulcio certificate extensions as policy: every claim by name, and ``gh attestation verify``'s checks.

Fulcio writes the OIDC token's claims into the leaf under
1.3.6.1.4.1.57264.1 (sigstore/fulcio docs/oid-info.md): ``.8`` the issuer,
``.9``-``.22`` the build signer, runner, source repository, build config,
trigger, run and visibility, each a DER UTF8String. A signer entry may demand
any of them by its name below (exact match), and the checks
``gh attestation verify`` offers under its own names
(pkg/cmd/attestation/verification/policy.go):

* ``repo = "owner/repo"``: the source repository URI is
  ``https://github.com/owner/repo`` (``--repo``);
* ``owner = "owner"``: the source repository owner URI is
  ``https://github.com/owner`` (``--owner``);
* ``signer_workflow = "owner/repo/.github/workflows/release.yml"``: the
  build signer URI is that workflow at any ref (``--signer-workflow``), or
  at exactly the ref given after ``@``;
* ``signer_repo = "owner/repo"``: the build signer URI is a workflow of that
  repository (``--signer-repo``: reusable workflows);
* ``source_ref``, ``source_digest``: the source repository ref and digest
  (``--source-ref``, ``--source-digest``);
* ``deny_self_hosted_runners = true``: the runner environment is
  ``github-hosted`` (``--deny-self-hosted-runners``).

A value without a scheme is on github.com, as in ``gh``; a full
``https://`` URL names another host (GitHub Enterprise Server).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from appliance.core.errors import InputError, Reason, VerificationError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from appliance.core.certs import Identity

FULCIO = "1.3.6.1.4.1.57264.1"
# Fulcio OID suffix by the name sigstore/fulcio's oid-info.md gives it.
NAMES: Mapping[str, str] = {
    "build_signer_uri": "9",
    "build_signer_digest": "10",
    "runner_environment": "11",
    "source_repository_uri": "12",
    "source_repository_digest": "13",
    "source_repository_ref": "14",
    "source_repository_identifier": "15",
    "source_repository_owner_uri": "16",
    "source_repository_owner_identifier": "17",
    "build_config_uri": "18",
    "build_config_digest": "19",
    "build_trigger": "20",
    "run_invocation_uri": "21",
    "source_repository_visibility_at_signing": "22",
}
# gh attestation verify's names (strings), and its one switch.
GH_NAMES = frozenset(
    {"repo", "owner", "signer_workflow", "signer_repo", "source_ref", "source_digest"}
)
GH_SWITCHES = frozenset({"deny_self_hosted_runners"})
ALL_NAMES = frozenset({*NAMES, *GH_NAMES, *GH_SWITCHES})


@dataclass(frozen=True, slots=True, kw_only=True)
class Demand:
    """One extension must equal ``value``, or (``prefix``) start with it."""

    name: str  # as the operator wrote it
    suffix: str
    value: str
    prefix: bool = False

    def check(self, found: Identity) -> None:
        """Raise unless the certificate's extension meets this demand.

        Raises:
            VerificationError: it is absent or differs.
        """
        actual = found.extensions.get(self.suffix)
        ok = actual is not None and (
            actual.startswith(self.value) if self.prefix else actual == self.value
        )
        if not ok:
            how = "to start with" if self.prefix else ""
            msg = f"certificate extension {FULCIO}.{self.suffix} ({self.name}) is {actual!r}, policy demands {how + ' ' if how else ''}{self.value!r}"
            raise VerificationError(
                msg, reason=Reason.POLICY_UNSATISFIED, where="certificate"
            )


def _url(value: str) -> str:
    value = value.strip("/")
    return value if value.startswith("https://") else f"https://github.com/{value}"


def demands(name: str, value: str | bool, *, where: str) -> tuple[Demand, ...]:  # noqa: FBT001 - a policy value
    """What ``name = value`` in a signer entry (or its flag) demands of the certificate.

    Raises:
        InputError: an unknown name, a wrong type or an empty value.
    """
    if name not in ALL_NAMES:
        msg = f"unknown certificate extension {name!r} (known: {', '.join(sorted(ALL_NAMES))})"
        raise InputError(msg, where=where, reason=Reason.USAGE)
    if name in GH_SWITCHES:
        if not isinstance(value, bool):
            msg = f"{name} must be true or false"
            raise InputError(msg, where=where, reason=Reason.USAGE)
        return (
            (
                Demand(
                    name=name, suffix=NAMES["runner_environment"], value="github-hosted"
                ),
            )
            if value
            else ()
        )
    if not isinstance(value, str) or not value:
        msg = f"{name} must be a non-empty string"
        raise InputError(msg, where=where, reason=Reason.USAGE)
    if name in NAMES:
        return (Demand(name=name, suffix=NAMES[name], value=value),)
    simple = {
        "repo": ("source_repository_uri", _url(value), False),
        "owner": ("source_repository_owner_uri", _url(value), False),
        # Any ref of that workflow: the URI is "<workflow>@<ref>".
        "signer_workflow": ("build_signer_uri", _url(value) + "@", True),
        "signer_repo": ("build_signer_uri", _url(value) + "/", True),
        "source_ref": ("source_repository_ref", value, False),
        "source_digest": ("source_repository_digest", value, False),
    }
    field, wanted, prefix = simple[name]
    if name == "signer_workflow" and "@" in value:
        # A workflow given with its ref names exactly that ref.
        wanted, prefix = _url(value), False
    return (Demand(name=name, suffix=NAMES[field], value=wanted, prefix=prefix),)
