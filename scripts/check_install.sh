#!/usr/bin/env bash
# A non-editable install in a fresh venv outside the checkout, then the installed `lingbridge` runs a recipe
# by its shipped config name, refuses a mistake with one line and exit status 2, and finds the app.
#   bash scripts/check_install.sh [VENV_DIR]        (~3 minutes: torch first, then `pip install .`)
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$(mktemp -d)/venv}"
work="$(mktemp -d)"
start=$(date +%s)
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q torch==2.13.0
"$venv/bin/python" -m pip uninstall -q -y lingbridge 2>/dev/null || true  # a reused venv: the tree as it is now
"$venv/bin/python" -m pip install -q "$src"  # not -e: the package as a user gets it
echo "install: $(( $(date +%s) - start )) s"
cd "$work"  # nothing of the checkout on the path
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False OMP_NUM_THREADS=2
"$venv/bin/python" -c "import lingbridge, sys; assert '$src' not in lingbridge.__file__, lingbridge.__file__; print('lingbridge from', lingbridge.__file__)"
"$venv/bin/lingbridge" train --help > /dev/null
"$venv/bin/lingbridge" train pretrain --config tiny --max_steps 3 --output_dir "$work/pre" --logging_steps 1 > "$work/pre.log" 2>&1
test -f "$work/pre/lingbridge_run.json" && test -f "$work/pre/train_results.json"
ls "$work/pre"/runs/*/events.out.tfevents.* > /dev/null  # TensorBoard curves, on by default
set +e
"$venv/bin/lingbridge" train finetune_classification --config sentiment_tiny --learning_rate fast > "$work/bad.out" 2> "$work/bad.err"
code=$?
set -e
test "$code" = 2 && test "$(grep -c '^error:' "$work/bad.err")" = 1 && ! grep -q Traceback "$work/bad.err"
"$venv/bin/lingbridge" app --help > /dev/null  # gradio came with the default install
"$venv/bin/python" -c "import gradio, tensorboard"
echo "ok: installed lingbridge ran pretrain/tiny, refused a mistake with exit 2, has the app ($(( $(date +%s) - start )) s)"
