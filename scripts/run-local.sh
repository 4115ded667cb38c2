#!/usr/bin/env bash
# The main job, locally: render and validate the shipped Bedrock project, then run the whole system
# against a fake OpenObserve (seeded traffic, plan → apply → plan, every panel query, alerts).
source "$(dirname "$0")/_venv.sh"
o2kit "$@" render --out build/rendered
o2kit "$@" validate
o2kit "$@" demo
