#!/usr/bin/env bash
# Set up a virtual environment and run the whole test suite (offline; CPU; under 30 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh "[dev]"
# the browser tests drive Debian's chromium through Playwright (never `playwright install`: it downloads)
command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium chromium-driver) \
    || echo "chromium not installed: the browser tests will skip"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_EVALUATE_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
# -m "": the slow tests too (a plain `pytest` skips them); two worker processes, each test file in one of
# them (most tests wait on imports, subprocesses and servers: two cores stay busy); the slowest 25 listed
python -m pytest -q -m "" -n "${LINGBRIDGE_TEST_WORKERS:-2}" --dist loadfile --durations=25 "$@"
