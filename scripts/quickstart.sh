#!/usr/bin/env bash
# Set up a virtual environment and run the main job on the embedded default (offline, CPU, <10 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0          # first: the CPU build on this machine's disk
python -m pip install -q -e .
export HF_HUB_OFFLINE=1
lingbridge quickstart "$@"
