#!/usr/bin/env bash
# Quickstart: set everything up in .venv, then read the bundled example digits.
#
#   ./quickstart.sh          # setup (first run: downloads PyTorch, a few GB) + python vote.py examples/
#   ./quickstart.sh test     # setup + the test suite (what CI runs)
#   ./quickstart.sh serve    # setup + the page and HTTP API on http://127.0.0.1:8000 (serve.py --help)
#
# Needs only Python >= 3.10 with venv (python3 on PATH, or PYTHON=/path/to/python).
set -euo pipefail
cd "$(dirname "$0")"

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "error: need Python >= 3.10 as '$PY' (set PYTHON=/path/to/python3)" >&2
    exit 1
fi

# (Re)install when .venv is missing or pyproject.toml changed since the last install.
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    if [ ! -x .venv/bin/python ]; then
        "$PY" -m venv .venv || { echo "error: '$PY -m venv' failed (Debian/Ubuntu: apt install python3-venv)" >&2; exit 1; }
    fi
    echo "installing into .venv (first time: PyTorch and friends, several GB) ..." >&2
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[dev]'
    rm -f .venv/.installed-* && touch "$stamp"
fi

case "${1:-demo}" in
    demo) exec .venv/bin/python vote.py examples/ ;;
    test) exec .venv/bin/python -m pytest -q -p no:cacheprovider tests/ ;;
    serve) shift; exec .venv/bin/python serve.py "$@" ;;
    *) echo "usage: ./quickstart.sh [demo|test|serve [serve.py options]]" >&2; exit 1 ;;
esac
