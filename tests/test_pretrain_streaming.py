"""The pretrain recipe, streamed: local shard folders per language, packing, TLM at a ratio, and a run killed
with SIGKILL that resumes from the same stream position (saved with the checkpoint, not re-read)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from conftest import OFFLINE_ENV, ROOT, config, recipe, run_cli

STEPS, BATCH = 24, 8


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """The bundled corpus's en/de/zh train rows as jsonl shards, one folder per language."""
    from lingbridge.data import load_sample

    root = tmp_path_factory.mktemp("corpus")
    train = load_sample("corpus")["train"]
    for lang in ("en", "de", "zh"):
        rows = [r for r in train if r["lang"] == lang]
        (root / lang).mkdir()
        for shard in range(2):
            with open(root / lang / f"part-{shard}.jsonl", "w", encoding="utf-8") as f:
                for r in rows[shard::2]:
                    f.write(json.dumps({"content": r["text"]}, ensure_ascii=False) + "\n")
    return root


def args(shards, out) -> list[str]:
    return recipe("pretrain") + [
        "--config", config("pretrain"), "--output_dir", str(out), "--streaming", "true",
        "--stream_corpus", f"en={shards}/en", f"de={shards}/de/*.jsonl", f"zh={shards}/zh", "--text_column", "content",
        "--parallel_dataset", "sample:parallel", "--languages", "en", "de", "zh", "--tlm_ratio", "0.3",
        "--pack_sequences", "true",  # tiny.yaml reads its short lines one per example; a stream packs
        "--shuffle_buffer", "0",  # exact resume (a shuffle buffer's rows are not replayed)
        "--eval_rows", "20", "--tokenizer_rows", "2000", "--vocab_size", "2000", "--max_seq_length", "32",
        "--per_device_train_batch_size", str(BATCH), "--max_steps", str(STEPS), "--save_steps", "8",
        "--logging_steps", "4", "--disable_tqdm", "true"]


def test_streamed_pretraining_from_shard_folders(shards, tmp_path):
    out = tmp_path / "run"
    done = run_cli(args(shards, out))
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((out / "lingbridge_run.json").read_text())
    assert record["streaming"] is True and record["languages"] == ["de", "en", "zh"]
    sampling = record["language_sampling"]
    assert sampling["packed"] and sampling["tlm_ratio"] == 0.3 and sampling["size_unit"] == {"languages": "bytes", "pairs": "rows"}
    assert set(sampling["per_language"]) == {"de", "en", "zh"} and set(sampling["per_pair"]) == {"en-de", "en-zh"}
    assert abs(sum(v["q"] for v in sampling["per_language"].values()) - 1) < 1e-9
    assert record["stream_position"]["examples_consumed"] == STEPS * BATCH
    assert {"de", "en", "zh", "tlm", "all"} <= set(record["metrics"]["per_language"])
    assert {s["kind"] for s in record["data_sources"]} == {"local files", "bundled sample"}
    assert record["tokenizer"]["trained"] and record["tokenizer"]["rows"] == 2000
    assert record["metrics"]["last_loss"] < record["metrics"]["first_loss"]  # something was learned
    assert (out / "model.safetensors").is_file() and (out / "data_state.json").is_file()
    # alignment on the pairs held out at the head of each pair stream (20 each, en-de and en-zh)
    retrieval = record["metrics"]["retrieval"]["parallel_validation"]
    assert {"de", "zh", "all"} <= set(retrieval) and 0 < retrieval["de"]["n"] <= 20
    assert record["config"]["sparse_prediction"] is True


def test_sigkill_then_resume_continues_at_the_same_stream_position(shards, tmp_path):
    full = tmp_path / "full"
    done = run_cli(args(shards, full))
    assert done.returncode == 0, done.stderr[-3000:]

    killed, partial = tmp_path / "killed", tmp_path / "killed.partial"
    proc = subprocess.Popen(args(shards, killed), cwd=ROOT, env={**os.environ, **OFFLINE_ENV},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not (partial / "checkpoint-8" / "data_state.json").exists():
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not killed.exists() and partial.is_dir()
    saved = json.loads((partial / "checkpoint-8" / "data_state.json").read_text())
    assert saved["examples"] == 8 * BATCH  # what the model had consumed, not what the loader had read ahead

    resumed = run_cli(args(shards, killed) + ["--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a = json.loads((full / "lingbridge_run.json").read_text())["stream_position"]
    b = json.loads((killed / "lingbridge_run.json").read_text())["stream_position"]
    assert b["resumed_from_examples"] > 0 and b["resumed_from_examples"] % (8 * BATCH) == 0
    # the same final position of every stream (language, shard, row, sampler state) as the uninterrupted run
    assert b["examples_consumed"] == a["examples_consumed"] and b["state_sha256"] == a["state_sha256"]


@pytest.mark.parametrize("extra,match", [
    (["--max_steps", "-1"], "streaming: set max_steps"),
    (["--dataloader_num_workers", "2"], "dataloader_num_workers must be 0"),
    (["--stream_corpus", "xx=/tmp"], "unknown language code 'xx'"),
    (["--stream_corpus", "en=/nonexistent/corpus"], "no such file, folder or pattern"),
    (["--tlm_ratio", "1.5"], "tlm_ratio must be in"),
])
def test_streaming_mistakes_are_one_line_errors(shards, tmp_path, capsys, extra, match):
    from lingbridge.recipes import pretrain

    with pytest.raises(SystemExit) as exit_info:
        pretrain.main(args(shards, tmp_path / "bad")[2:] + extra)  # in-process: the recipe's own argv
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and match in err and "Traceback" not in err
    assert not (tmp_path / "bad").exists() and not (tmp_path / "bad.partial").exists()
