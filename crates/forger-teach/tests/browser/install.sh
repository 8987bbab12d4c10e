#!/usr/bin/env bash
# Installs what the forger-teach browser test needs: Debian's Chromium, and
# playwright-core in this folder (pinned by package-lock.json; it drives the
# system Chromium and downloads no browser). Node.js and npm come with the
# machine. Called by .ci/run before `cargo test`; safe to run again.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v chromium >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y chromium
fi
for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install.sh: $tool is missing (needs Node.js 20 or later)" >&2; exit 1; }
done
cd "$here"
npm ci --no-audit --no-fund
