#!/usr/bin/env bash
# The main job, locally: render and validate the shipped Bedrock dashboards and alerts.
source "$(dirname "$0")/_venv.sh"
o2kit render --out build/rendered "$@"
o2kit validate "$@"
