# Sourced by quickstart.sh and test.sh: create and activate .venv, then install lingbridge with the
# extras given as $1 (e.g. "[dev]"). torch goes first: 2.13.0 is the CPU build on this machine's disk,
# and a plain `torch` requirement would pull a multi-GB CUDA build.
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0
python -m pip install -q -e ".${1:-}"
