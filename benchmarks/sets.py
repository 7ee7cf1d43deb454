"""Image sets: resolving 50 repositories x 200 tags against a loopback registry.

docker-registry 2.8 holds 50 repositories of 200 tags each (releases,
pre-releases and tags that are not SemVer, all on one small image per
repository). Then, each measured as one command, three times:

* ours: ``bundle-tools export --set SET.toml --dry-run -o json``: the set
  file read and checked, each repository's tags listed
  (``/v2/<name>/tags/list``, following ``Link``) and filtered by a SemVer
  range, the resolution printed;
* the peer: ``skopeo list-tags`` of the same 50 repositories, one after the
  other (skopeo lists one repository per run).

Rows: the whole resolution against the 50 listings, and the time per tag
listed. Goal (issue #24): dominated by the registry's responses, <= 1.2x
skopeo's listing alone.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.measure import Run, median, timed
from tests.helpers import netguard, publish
from tests.helpers import registry as registry_mod

BIN = Path(sys.executable).parent
REPOSITORIES = 50
TAGS = 200


@dataclass(frozen=True)
class Figures:
    """Ours and skopeo's: one run each (medians), and how many tags were listed."""

    tags: int
    ours: Run
    peer: Run


def _tags() -> list[str]:
    tags = []
    for i in range(TAGS):
        kind = i % 10
        if kind < 6:
            tags.append(f"v{1 + i // 100}.{i % 100}.{kind}")
        elif kind < 8:
            tags.append(f"{1 + i // 100}.{i % 100}.0-rc.{kind}")
        else:  # and two are not SemVer
            tags.append(f"build-{i:04d}" if kind == 8 else f"{i % 100}.{i}")
    return tags


def run(repeats: int = 3) -> Figures:
    """Medians of ``repeats`` resolutions (ours) and listings (skopeo)."""
    with tempfile.TemporaryDirectory(prefix="bench-sets-") as tmp, netguard.loopback():
        work = Path(tmp)
        upstream = registry_mod.start(work / "upstream")
        try:
            names = [f"bench/sets/repo{n:02d}" for n in range(REPOSITORIES)]
            tags = _tags()
            for name in names:
                image = publish.image(upstream, name, tags[0])
                body = upstream.get_manifest(name, tags[0]).body
                for tag in tags[1:]:
                    upstream.push_manifest(name, tag, body, image.media_type)
            set_file = work / "set.toml"
            set_file.write_text(
                "version = 1\n"
                + "".join(
                    f'[[images]]\nrepository = "{upstream.address}/{name}"\n'
                    'semver = ">=1.50, <2"\n'
                    for name in names
                )
            )
            env = {**os.environ, "DOCKER_CONFIG": str(work / "docker")}
            resolve = [str(BIN / "bundle-tools"), "export", "--set", str(set_file)]
            resolve += ["--dry-run", "--allow-http-registry", upstream.address]
            ours = [timed([*resolve, "-o", "json"], env=env) for _ in range(repeats)]
            loop = " ; ".join(
                f"skopeo list-tags --tls-verify=false docker://{upstream.address}/{name} > /dev/null"
                for name in names
            )
            peer = [
                timed([loop], env=env, shell=True)  # noqa: S604 - our own names
                for _ in range(repeats)
            ]
        finally:
            upstream.stop()
    return Figures(tags=REPOSITORIES * len(tags), ours=median(ours), peer=median(peer))
