#!/usr/bin/env bash
# Prints the path of Debian's Chromium for the dashboard's browser test, installing the package
# with apt-get when it is missing (Playwright drives it; no browser is downloaded).
set -euo pipefail

log() { echo "chromium.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

find_chromium() {
    local candidate
    for candidate in chromium chromium-browser; do
        command -v "$candidate" && return 0
    done
    return 1
}

if ! find_chromium >/dev/null; then
    command -v apt-get >/dev/null || die "Chromium is not installed and apt-get is unavailable"
    log "installing Chromium with apt-get"
    as_root apt-get update -q >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2
fi
find_chromium || die "the chromium package did not provide a browser"
