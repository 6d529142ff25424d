#!/usr/bin/env bash
# Set up a virtual environment and run the main job on the embedded default (offline, CPU, <10 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh ""  # no extras (an explicit argument: a sourced script would see this script's own)
export HF_HUB_OFFLINE=1
lingbridge quickstart "$@"
echo "(in a new shell, first: . .venv/bin/activate)"
