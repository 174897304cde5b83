#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image (the zip is
# unpacked in $AUTOGRADER_ROOT/source, /autograder/source on Gradescope). It installs:
#   - Python >= 3.11 from the distribution's own packages (Ubuntu 22.04 ships 3.10 as python3,
#     and python3.11 in its universe repository; no PPA);
#   - a virtualenv with the kit (hidden tests and reference included) and its pip dependencies;
#   - MNIST, fetched and verified into the kit's cache now, so that grading never downloads.
# Set TINYTORCH_PYTHON to use a given interpreter, TINYTORCH_SKIP_APT=1 to never call apt-get,
# TINYTORCH_MNIST_DIR to take MNIST from a folder of the four IDX files.
set -euo pipefail

ROOT="${AUTOGRADER_ROOT:-/autograder}"
KIT="$ROOT/source/kit"
VENV="$ROOT/tinytorch-venv"
export TINYTORCH_CACHE_DIR="$KIT/.cache"

python_ok() {
    "$1" -c 'import sys, ensurepip, venv; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null
}

PYTHON="${TINYTORCH_PYTHON:-}"
if [ -z "$PYTHON" ]; then
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null && python_ok "$(command -v "$candidate")"; then
            PYTHON="$(command -v "$candidate")"
            break
        fi
    done
fi
if [ -z "$PYTHON" ]; then
    if [ "${TINYTORCH_SKIP_APT:-0}" = "1" ]; then
        echo "setup.sh: no Python >= 3.11 with venv found, and TINYTORCH_SKIP_APT=1" >&2
        exit 1
    fi
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3.11 python3.11-venv
    PYTHON=/usr/bin/python3.11
fi
python_ok "$PYTHON" || { echo "setup.sh: $PYTHON is not Python >= 3.11 with venv" >&2; exit 1; }
echo "setup.sh: $("$PYTHON" --version) at $PYTHON"

"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q -e "$KIT"

# Student code runs as unprivileged sandbox uids: the virtualenv must be reachable by them, the
# kit (hidden tests, reference, the MNIST cache) must not, even where Landlock is missing.
chmod 755 "$ROOT" "$VENV"
mkdir -p "$TINYTORCH_CACHE_DIR"
chmod 700 "$KIT"

"$VENV/bin/grader" data fetch
"$VENV/bin/grader" data verify
echo "setup.sh: done"
