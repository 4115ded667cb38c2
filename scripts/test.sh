#!/usr/bin/env bash
# The whole test suite (what CI runs).
source "$(dirname "$0")/_venv.sh"
python -m pytest "$@"
