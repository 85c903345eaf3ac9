#!/usr/bin/env bash
# Debian's headless Chromium for the browser tests (tests/web/, Playwright with
# executable_path=/usr/bin/chromium). Playwright's own browser download cannot run here, so the
# browser comes from apt-get; nothing happens when /usr/bin/chromium is already there.
set -euo pipefail
if [[ -x /usr/bin/chromium ]]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if [[ "$(id -u)" -eq 0 ]]; then apt=(apt-get); else apt=(sudo -n apt-get); fi
echo "installing Chromium (Debian package chromium) for the browser tests"
if ! "${apt[@]}" install -y -q chromium >/dev/null; then
  "${apt[@]}" update -qq
  "${apt[@]}" install -y -q chromium >/dev/null
fi
test -x /usr/bin/chromium
