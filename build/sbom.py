"""What is inside the sealed appliance: a sha256 manifest of every file, and a CycloneDX SBOM.

Run by build.sh after PyInstaller, over the onedir folder:

* ``appliance.sha256``: ``<sha256>  <path>`` for every file, sorted by path
  (``sha256sum -c`` checks it); its own SHA-256 names the build, and
  ``appliance --version`` prints it;
* ``appliance.cdx.json``: CycloneDX 1.6 (cyclonedx-python-lib), one component
  per Python distribution found in the folder (from the build virtualenv's
  RECORD files), per shared library PyInstaller collected (with the Debian
  package and version it came from, when dpkg knows the file), the CPython
  runtime, the PyInstaller bootloader and the appliance itself; every
  component lists its bytes and files, and a file no component explains is
  an error (the folder is never larger than its SBOM explains). Deterministic:
  timestamp from ``SOURCE_DATE_EPOCH``, serial number derived from the manifest.

Usage: ``python build/sbom.py DIST/appliance VERSION COMMIT``
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL


@dataclass
class Part:
    """A component and the files of the folder it explains."""

    name: str
    version: str
    kind: ComponentType
    purl: PackageURL | None = None
    files: list[Path] = field(default_factory=list)
    modules: list[str] = field(
        default_factory=list
    )  # inside the executable's module archive
    note: str = ""


def manifest(folder: Path) -> tuple[str, dict[Path, str]]:
    """``sha256sum`` lines of every file (sorted), and each file's digest."""
    digests = {}
    for path in sorted(
        p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
    ):
        digests[path.relative_to(folder.parent)] = hashlib.sha256(
            path.read_bytes()
        ).hexdigest()
    text = "".join(f"{digest}  {path}\n" for path, digest in digests.items())
    return text, digests


def _distributions() -> dict[str, importlib.metadata.Distribution]:
    """Top-level names (packages, modules, extension files, dist-info dirs) to their distribution."""
    owners: dict[str, importlib.metadata.Distribution] = {}
    for dist in importlib.metadata.distributions():
        for file in dist.files or ():
            top = file.parts[0]
            top = top.removesuffix(".py")
            owners.setdefault(top, dist)
    return owners


def _debian(library: str) -> tuple[str, str] | None:
    """The Debian package and version a shared library of this name comes from, if dpkg knows it."""
    for directory in (
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
        "/lib",
        "/usr/lib",
    ):
        candidate = Path(directory) / library
        if not candidate.exists():
            continue
        for name in (
            candidate,
            candidate.resolve(),
        ):  # dpkg records the path it installed
            found = subprocess.run(
                ["dpkg", "-S", str(name)], capture_output=True, text=True, check=False
            )
            if found.returncode == 0:
                break
        if found.returncode != 0:
            continue
        package = found.stdout.split(":", 1)[0].strip()
        version = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        return package, version or "unknown"
    return None


def attribute(folder: Path, version: str) -> tuple[list[Part], list[Path]]:
    """Every file of the folder given to a component; what no component explains."""
    internal = folder / "_internal"
    owners = _distributions()
    parts: dict[str, Part] = {}
    runtime = Part(
        "cpython",
        sys.version.split()[0],
        ComponentType.LIBRARY,
        PackageURL("generic", "cpython", sys.version.split()[0]),
    )
    bootloader = Part(
        "pyinstaller-bootloader",
        importlib.metadata.version("pyinstaller"),
        ComponentType.APPLICATION,
        PackageURL("pypi", "pyinstaller", importlib.metadata.version("pyinstaller")),
        note="the executable: PyInstaller's bootloader and one archive of every pure-Python module (each component counts its modules-in-executable)",
    )
    ours = Part(
        "airlock-appliance",
        version,
        ComponentType.APPLICATION,
        note="the appliance's code and sealed trust material",
    )
    unexplained = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(internal) if path.is_relative_to(internal) else None
        if relative is None:
            (bootloader if path.name == folder.name else ours).files.append(path)
            continue
        top = relative.parts[0]
        if top in ("base_library.zip", "python3.11") or top.startswith("libpython"):
            runtime.files.append(path)
            continue
        if top in (
            "appliance",
            "airlock_io",
            "airlock_registry",
            "trustroot",
            "airlock",
        ):
            ours.files.append(path)
            continue
        name = top.removesuffix(".dist-info")
        dist = (
            owners.get(top)
            or owners.get(top.split(".")[0])
            or next(
                (
                    d
                    for d in owners.values()
                    if top.endswith(".dist-info")
                    and d.metadata["Name"].replace("-", "_").lower()
                    == name.rsplit("-", 1)[0].lower()
                ),
                None,
            )
        )
        if dist is not None:
            key = dist.metadata["Name"]
            part = parts.setdefault(
                key,
                Part(
                    key,
                    dist.version,
                    ComponentType.LIBRARY,
                    PackageURL("pypi", key.lower(), dist.version),
                ),
            )
            part.files.append(path)
            continue
        if top.startswith("lib") and ".so" in top:
            debian = _debian(top)
            key = f"lib:{top}"
            if debian is not None:
                part = parts.setdefault(
                    key,
                    Part(
                        top,
                        debian[1],
                        ComponentType.LIBRARY,
                        PackageURL(
                            type="deb",
                            namespace="debian",
                            name=debian[0],
                            version=debian[1],
                            qualifiers={"arch": "amd64"},
                        ),
                    ),
                )
            else:
                part = parts.setdefault(
                    key,
                    Part(
                        top,
                        "unknown",
                        ComponentType.LIBRARY,
                        note="a shared library dpkg does not know",
                    ),
                )
            part.files.append(path)
            continue
        unexplained.append(path)
    return [
        runtime,
        bootloader,
        ours,
        *sorted(parts.values(), key=lambda p: p.name.lower()),
    ], unexplained


def _is_stdlib(module: str) -> bool:
    if module in sys.stdlib_module_names or module.startswith("_sysconfigdata"):
        return True
    spec = importlib.util.find_spec(module)
    stdlib = sysconfig.get_paths()["stdlib"]
    return (
        spec is not None and spec.origin is not None and spec.origin.startswith(stdlib)
    )


def archived(executable: Path) -> tuple[dict[str, list[str]], list[str]]:
    """Distributions whose modules are in the executable's module archive (PYZ); unowned modules.

    The bootloader carries every pure-Python module in one archive: those
    distributions are in the folder too, inside the executable.
    """
    from PyInstaller.archive.readers import CArchiveReader  # noqa: PLC0415 - a build tool

    reader = CArchiveReader(str(executable))
    owners = _distributions()
    found: dict[str, list[str]] = defaultdict(list)
    unowned = []
    for name in (n for n in reader.toc if n.endswith(".pyz")):
        for module in reader.open_embedded_archive(name).toc:
            top = module.split(".")[0]
            if top in ("appliance", "airlock_io", "airlock_registry", "trustroot"):
                found["airlock-appliance"].append(module)
            elif top in owners:
                found[owners[top].metadata["Name"]].append(module)
            elif _is_stdlib(top):
                found["cpython"].append(module)
            else:
                unowned.append(module)
    return found, unowned


def sbom(parts: list[Part], *, manifest_sha256: str, when: datetime) -> str:
    """The CycloneDX 1.6 JSON of ``parts``."""
    bom = Bom(
        serial_number=uuid.uuid5(
            uuid.NAMESPACE_URL, f"airlock-sealed:{manifest_sha256}"
        )
    )
    bom.metadata.timestamp = when
    for part in parts:
        size = sum(p.stat().st_size for p in part.files)
        properties = [
            Property(name="airlock:bytes", value=str(size)),
            Property(name="airlock:files", value=str(len(part.files))),
        ]
        if part.note:
            properties.append(Property(name="airlock:note", value=part.note))
        if part.modules:
            properties.append(
                Property(
                    name="airlock:modules-in-executable", value=str(len(part.modules))
                )
            )
        component = Component(
            name=part.name,
            version=part.version,
            type=part.kind,
            purl=part.purl,
            bom_ref=f"{part.kind.value}:{part.name}",
            properties=properties,
        )
        if len(part.files) == 1:
            component.hashes.add(
                HashType(
                    alg=HashAlgorithm.SHA_256,
                    content=hashlib.sha256(part.files[0].read_bytes()).hexdigest(),
                )
            )
        bom.components.add(component)
    return JsonV1Dot6(bom).output_as_string(indent=1) + "\n"


def main() -> int:
    """Write the manifest and the SBOM beside the folder; report sizes."""
    folder, version, commit = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    text, _ = manifest(folder)
    manifest_path = folder.parent / f"{folder.name}.sha256"
    manifest_path.write_text(text)
    manifest_sha256 = hashlib.sha256(text.encode()).hexdigest()
    parts, unexplained = attribute(folder, f"{version}+{commit[:12]}")
    modules, unowned = archived(folder / folder.name)
    by_name = {part.name: part for part in parts}
    for name, listed in modules.items():
        if name not in by_name:
            dist = importlib.metadata.distribution(name)
            by_name[name] = Part(
                name,
                dist.version,
                ComponentType.LIBRARY,
                PackageURL("pypi", name.lower(), dist.version),
            )
            parts.append(by_name[name])
        by_name[name].modules.extend(listed)
    unexplained += [Path(f"{folder.name}::{module}") for module in unowned]
    when = datetime.fromtimestamp(int(os.environ.get("SOURCE_DATE_EPOCH", "0")), tz=UTC)
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    explained = sum(p.stat().st_size for part in parts for p in part.files)
    sizes: dict[str, int] = defaultdict(int)
    for part in parts:
        sizes[part.name] += sum(p.stat().st_size for p in part.files)
    largest = ", ".join(
        f"{name} {size / 2**20:.1f} MiB"
        for name, size in sorted(sizes.items(), key=lambda x: -x[1])[:5]
    )
    parts.sort(key=lambda p: (p.kind.value, p.name.lower()))
    (folder.parent / f"{folder.name}.cdx.json").write_text(
        sbom(parts, manifest_sha256=manifest_sha256, when=when)
    )
    print(
        json.dumps(
            {
                "manifest_sha256": manifest_sha256,
                "bytes": total,
                "explained_bytes": explained,
                "components": len(parts),
                "largest": largest,
            }
        )
    )
    if unexplained:
        print(
            "files no SBOM component explains:",
            *unexplained,
            sep="\n  ",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
