#!/usr/bin/env bash
# Build the sealed appliance (PyInstaller onedir) reproducibly, outside the
# source tree, with a sha256 manifest and a CycloneDX SBOM beside it.
#
#   $AIRLOCK_SEALED (default: $XDG_CACHE_HOME/airlock-sealed or ~/.cache/...)
#     dist/appliance/          the folder that ships
#     dist/appliance.sha256    sha256 of every file in it (sha256sum -c)
#     dist/appliance.cdx.json  CycloneDX SBOM of what is in it
#     work/                    PyInstaller's scratch space
#
# Reproducible: the same commit on the same machine gives byte-identical
# folders. SOURCE_DATE_EPOCH is the commit's time (zip and archive dates),
# PYTHONHASHSEED is fixed (bytecode), inputs come from the locked
# virtualenv, and the build info (version, commit) is written, not dated.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$root/.venv}"
out="${AIRLOCK_SEALED:-${XDG_CACHE_HOME:-$HOME/.cache}/airlock-sealed}"
dist="${DIST:-$out/dist}"
work="${WORK:-$out/work}"
commit="$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
if [ "$commit" != unknown ] && [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit="$commit-dirty"
fi
epoch="${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)}"
version="$("$venv/bin/python" -c 'import appliance; print(appliance.__version__)')"
rm -rf "$dist/appliance" "$dist/appliance.sha256" "$dist/appliance.cdx.json" "$work"
mkdir -p "$work/info"
printf '%s\n' "$commit" > "$work/info/commit"
export PYTHONHASHSEED=0 SOURCE_DATE_EPOCH="$epoch" AIRLOCK_BUILD_INFO="$work/info/commit"
"$venv/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath "$dist" --workpath "$work" "$root/build/appliance.spec"
"$venv/bin/python" "$root/build/sbom.py" "$dist/appliance" "$version" "$commit"
echo "built $dist/appliance/appliance (commit $commit)"
echo "manifest $dist/appliance.sha256, SBOM $dist/appliance.cdx.json"
