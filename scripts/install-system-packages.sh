#!/usr/bin/env bash
# Debian packages some tests use: redis-server (shared rate-limit store) and chromium
# (headless check of /docs and /redoc). Installs only what is missing; needs root (CI is).
# Tests that need one of them skip with a printed reason when it is absent.
set -euo pipefail
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v chromium >/dev/null || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-system-packages: cannot install ${missing[*]} (needs root and apt-get); the tests that use them will skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
