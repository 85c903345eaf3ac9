#!/usr/bin/env bash
# A real Label Studio server for tests/interop/test_label_studio.py (the ML backend test).
# Label Studio 1.23.2 needs numpy >= 2 while mediapipe pins numpy < 2, so it lives in its own
# virtual environment outside .venv/, cached between runs:
#   ${TASKML_LABEL_STUDIO_VENV:-$HOME/.cache/taskml/label-studio-venv}
# Prints the venv's path on success; exits 1 (with the reason on stderr) when the package
# cannot be installed (no registry reachable), and the test then skips saying so.
set -euo pipefail
VERSION=1.23.2
VENV="${TASKML_LABEL_STUDIO_VENV:-$HOME/.cache/taskml/label-studio-venv}"
STAMP="$VENV/.installed-label-studio-$VERSION"
PYTHON_BOOT="${PYTHON_BOOT:-$(command -v python3.11 || command -v python3)}"
if [[ -f "$STAMP" && -x "$VENV/bin/label-studio" ]]; then
  echo "$VENV"
  exit 0
fi
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9   # two test sessions at once install it once
if [[ ! -f "$STAMP" ]]; then
  rm -rf "$VENV"
  "$PYTHON_BOOT" -m venv "$VENV" >&2
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -q "label-studio==$VERSION" >&2; then
    echo "label-studio $VERSION could not be installed into $VENV" >&2
    rm -rf "$VENV"
    exit 1
  fi
  touch "$STAMP"
fi
echo "$VENV"
