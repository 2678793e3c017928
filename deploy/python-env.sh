#!/usr/bin/env bash
# Create the repository's virtualenv with Python 3.11+, installing Debian's venv support if missing.
set -euo pipefail
python="${1:-python3}"
venv="${2:-.venv}"

if [[ -x "$venv/bin/python" ]]; then
    exit 0
fi
if ! command -v "$python" >/dev/null; then
    echo "error: $python not found; install Python 3.11 or newer" >&2
    exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "error: Gatehouse needs Python 3.11 or newer; $python is $("$python" --version)" >&2
    exit 1
fi
if ! "$python" -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    echo "python venv support missing; installing python3-venv" >&2
    sudo_cmd=()
    [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq python3-venv
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
