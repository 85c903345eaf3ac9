#!/usr/bin/env bash
# Fetch the real sample videos (Megamind.avi, vtest.avi) from Debian's opencv-doc package.
# Downloads the .deb with apt-get and unpacks it with dpkg -x: nothing is installed.
set -euo pipefail
dest="${1:-data/samples}"
mkdir -p "$dest"
if [[ -s "$dest/Megamind.avi" && -s "$dest/vtest.avi" ]]; then
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download opencv-doc >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get download opencv-doc >/dev/null
fi
dpkg -x opencv-doc_*.deb x
data="x/usr/share/doc/opencv-doc/examples/data"
cd - >/dev/null
for name in Megamind.avi vtest.avi; do
  cp "$work/$data/$name" "$dest/.$name.tmp" && mv "$dest/.$name.tmp" "$dest/$name"
done
echo "sample videos in $dest: Megamind.avi vtest.avi"
