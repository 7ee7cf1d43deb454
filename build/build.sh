#!/usr/bin/env bash
# Build the sealed appliance with PyInstaller into dist/appliance/ (onedir).
# Inputs are the committed spec and the locked virtualenv; PYTHONHASHSEED is
# fixed so that repeated builds from the same tree produce the same bytecode.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$root/.venv}"
dist="${DIST:-$root/dist}"
work="${WORK:-$root/.pyinstaller}"
rm -rf "$dist/appliance" "$work"
PYTHONHASHSEED=0 SOURCE_DATE_EPOCH=0 "$venv/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath "$dist" --workpath "$work" "$root/build/appliance.spec"
echo "built $dist/appliance/appliance"
