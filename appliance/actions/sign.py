"""Sign and attest images in the in-gap registry, offline, with an HSM or a key file.

The key is opened (and a PIN checked) before the registry is touched: a
wrong PIN stops the verb with nothing pushed. Then, inside the seal's permit
for the image's registry alone, the image is resolved once and every
signature is verified with the public key before it is pushed. Every signing
is an audit line (image digest, key id, what was written where); PINs never
are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from appliance.actions.audited import Audited
from appliance.actions.registry import RegistryAccess, SignerChoice
from appliance.core import keys
from appliance.core.archive.plan import Target
from appliance.core.archive.reference import parse_reference
from appliance.core.errors import InputError, Reason, redact
from appliance.load.connect import registry
from appliance.load.sign import ImageWriter, attest_image, sign_image
from appliance.signer.opener import open_signer
from appliance.trust import roots

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from appliance.core.archive.reference import Reference
    from appliance.load.sign import Resolved, Written


@dataclass(frozen=True, slots=True, kw_only=True)
class SignRequest:
    """``appliance sign``: a signature of an image's digest (and each platform's)."""

    image: str  # host[:port]/repository:tag or @digest, in the in-gap registry
    signer: SignerChoice
    state_dir: Path
    access: RegistryAccess = field(default_factory=RegistryAccess)
    annotations: Mapping[str, str] = field(default_factory=dict)  # -a
    recursive: bool = False
    bundles: bool = False  # --bundle-format v3: a Sigstore bundle referrer too


@dataclass(frozen=True, slots=True, kw_only=True)
class AttestRequest:
    """``appliance attest``: an in-toto statement about an image's digest."""

    image: str
    signer: SignerChoice
    state_dir: Path
    predicate_type: str
    predicate: object  # the predicate, parsed strictly by the caller
    access: RegistryAccess = field(default_factory=RegistryAccess)
    bundles: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Signed:
    """What was signed, with which key, and every signature written or found already there."""

    image: str
    digest: str
    key_id: str
    written: tuple[Written, ...]
    audit: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The result as ``-o json`` prints it."""
        return {
            "image": self.image,
            "digest": self.digest,
            "key_id": self.key_id,
            "written": [w.to_json() for w in self.written],
            "audit": self.audit,
        }


def image_reference(text: str) -> Reference:
    """An image in the in-gap registry: the registry must be named.

    Raises:
        InputError: not a reference, or one without a registry host.
    """
    ref = parse_reference(text)
    first = text.split("/", 1)[0]
    if "/" not in text or not ("." in first or ":" in first or first == "localhost"):
        msg = "name the in-gap registry in the reference (host[:port]/repository:tag)"
        raise InputError(msg, where=text[:200], reason=Reason.USAGE)
    return ref


def _write(  # noqa: PLR0913 - every part named
    command: str,
    *,
    image: str,
    signer: SignerChoice,
    access: RegistryAccess,
    state_dir: Path,
    work: Callable[[ImageWriter, Reference], tuple[Resolved, list[Written]]],
) -> Signed:
    """Open the key, then the registry; do ``work``; record it."""
    ref = image_reference(image)
    now = datetime.now(UTC)
    with Audited(command, state_dir, image=image, key=redact(signer.key)) as audit:
        with open_signer(
            signer.key,
            module_override=signer.module_path,
            secrets_handler=signer.secrets,
        ) as opened:  # the PIN before the network
            contacted: list[str] = []
            with registry(
                Target(host=ref.registry),
                access=access,
                contacted=contacted,
            ) as client:
                writer = ImageWriter(
                    client, opened, trust=roots.load_embedded(now=now), now=now
                )
                resolved, written = work(writer, ref)
            key_id = keys.key_id(opened.public_key).hex()
        result = {
            "image": image,
            "digest": resolved.digest,
            "key_id": key_id,
            "written": [w.to_json() for w in written],
        }
        # Every host contacted: the registry, its token realm, its storage (#21).
        hosts = list(dict.fromkeys(contacted))
        head = audit.record({**result, "hosts": hosts, "exit_code": 0})
    return Signed(
        image=image,
        digest=resolved.digest,
        key_id=key_id,
        written=tuple(written),
        audit=head.to_json(),
    )


def sign(request: SignRequest) -> Signed:
    """Sign the image (and with ``recursive``, each platform manifest).

    Raises:
        InputError: a bad reference; a registry that fails or lacks the image.
        SignerError: the key, token or PIN.
    """
    return _write(
        "sign",
        image=request.image,
        signer=request.signer,
        access=request.access,
        state_dir=request.state_dir,
        work=lambda writer, ref: sign_image(
            writer,
            ref,
            annotations=dict(request.annotations),
            recursive=request.recursive,
            bundles=request.bundles,
        ),
    )


def attest(request: AttestRequest) -> Signed:
    """Attest about the image with ``request.predicate``.

    Raises:
        InputError: a bad reference or predicate type; a registry that fails.
        SignerError: the key, token or PIN.
    """
    if "://" not in request.predicate_type:
        msg = "a predicate type URI, e.g. https://slsa.dev/provenance/v1"
        raise InputError(
            msg, where=f"--type {request.predicate_type[:100]}", reason=Reason.USAGE
        )
    return _write(
        "attest",
        image=request.image,
        signer=request.signer,
        access=request.access,
        state_dir=request.state_dir,
        work=lambda writer, ref: attest_image(
            writer,
            ref,
            predicate_type=request.predicate_type,
            predicate=request.predicate,
            bundles=request.bundles,
        ),
    )
