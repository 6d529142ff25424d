"""The QA recipe end to end: bundled SQuAD v2.0-style sample, SQuAD JSON files, XQuAD when present."""

import json
from pathlib import Path

import pytest

from conftest import SHARED_DATASETS, config, recipe, run_cli
from lingbridge.recipes import finetune_qa

XQUAD = SHARED_DATASETS / "xquad"
FAST = ["--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false", "--disable_tqdm", "true"]


def test_bundled_sample_shape():
    from lingbridge.data import load_sample

    dsd = load_sample("qa")
    langs = set(dsd["train"]["lang"])
    assert langs == {"en", "de", "zh"}
    for split in dsd.values():  # every translation of a paragraph lands in the same split
        assert len({t for t in split["title"]}) * 3 == len({(t, lang) for t, lang in zip(split["title"], split["lang"])})
    rows = [r for split in dsd.values() for r in split]
    per_lang = {lang: sum(r["lang"] == lang for r in rows) for lang in langs}
    assert min(per_lang.values()) >= 100
    assert any(not r["answers"]["text"] for r in rows)  # v2.0: unanswerable questions
    for r in rows:
        for text, start in zip(r["answers"]["text"], r["answers"]["answer_start"]):
            assert r["context"][start:start + len(text)] == text


def test_quickstart_step_learns_and_reports_per_language(pretrained_run, tmp_path):
    """The tiny config from a pretrained run, as `lingbridge quickstart --tasks qa` runs it."""
    from lingbridge.quickstart import run_task_step

    text = run_task_step("qa", tmp_path, pretrained_run, epochs=6)  # the shipped 20 epochs take ~2.5 minutes
    out = tmp_path / "qa"
    assert "| zh | zero-shot |" in text and "exact_match" in text
    record = json.loads((out / "lingbridge_run.json").read_text())
    assert record["task"] == "question-answering" and record["squad_version"] == "v2.0"
    table = record["metrics"]["per_language"]
    assert set(table) == {"en", "de", "zh", "all"}
    assert {"exact_match", "f1", "has_ans_f1", "no_ans_f1", "n"} <= set(table["en"])
    transfer = record["metrics"]["transfer"]
    assert transfer["source_languages"] == ["en"] and transfer["target_languages"] == ["de", "zh"]
    assert record["windows"]["train"] > record["rows"]["train"]  # long contexts were split with the stride
    # learned: the loss fell, and English spans are found (not only "no answer", which any model learns first)
    assert record["metrics"]["last_loss"] < record["metrics"]["first_loss"] - 0.5, record["metrics"]["loss_curve"]
    assert table["en"]["no_ans_f1"] > 50 and table["en"]["has_ans_f1"] > 10, table["en"]
    preds = json.loads((out / "predictions.json").read_text())
    assert len(preds) == table["all"]["n"] and {"prediction", "answers", "null_score_diff"} <= set(preds[0])
    from transformers import AutoModelForQuestionAnswering

    AutoModelForQuestionAnswering.from_pretrained(out)  # a plain model folder (nothing left to merge)


def _squad_file(path: Path, doc: dict, paragraphs) -> Path:
    path.write_text(json.dumps({"version": doc.get("version", "1.1"), "data": [
        {"title": a["title"], "paragraphs": [p]} for a in doc["data"] for p in a["paragraphs"]][paragraphs]}),
        encoding="utf-8")
    return path


def test_squad_v11_files_with_lora_from_minilm(minilm_path, tmp_path):
    """SQuAD v1.1 JSON files (no unanswerable questions), a real checkpoint, LoRA on query/value."""
    from lingbridge.data import load_sample

    en = [r for r in load_sample("qa")["train"] if r["lang"] == "en" and r["answers"]["text"]]
    doc = {"version": "1.1", "data": [{"title": r["title"], "paragraphs": [{"context": r["context"], "qas": [
        {"id": r["id"], "question": r["question"], "answers": [
            {"text": t, "answer_start": s} for t, s in zip(r["answers"]["text"], r["answers"]["answer_start"])]}]}]}
        for r in en]}
    train = _squad_file(tmp_path / "train-v1.1.json", doc, slice(0, 60))
    dev = _squad_file(tmp_path / "dev-v1.1.json", doc, slice(60, 80))
    out = tmp_path / "run"
    finetune_qa.main(["--config", config("finetune_qa"), "--model_name_or_path", str(minilm_path),
                      "--train_file", str(train), "--validation_file", str(dev), "--languages", "en",
                      "--train_languages", "en", "--use_lora", "true", "--lora_r", "8", "--learning_rate", "2e-3",
                      "--max_steps", "3", "--per_device_train_batch_size", "8", "--output_dir", str(out), *FAST])
    record = json.loads((out / "lingbridge_run.json").read_text())
    rows = record["rows"]
    assert record["squad_version"] == "v1.1" and rows["test"] == 20 and rows["train"] + rows["dev"] == 60
    assert record["lora"]["target_modules"] == ["query", "value"] and record["lora"]["modules_to_save"] == ["qa_outputs"]
    assert set(record["metrics"]["per_language"]) == {"en", "all"}


@pytest.mark.skipif(not XQUAD.is_dir(), reason="../shared/datasets/xquad is absent")
def test_xquad_real_data_zero_shot(pretrained_run, tmp_path):
    """Real XQuAD files: 8 languages, SQuAD v1.1 JSON, language from the file name. Train briefly on
    English paragraphs, evaluate zero-shot on the other paragraphs in every language."""
    from lingbridge.data.squad import read_squad_file

    files = sorted(XQUAD.glob("xquad.*.json"))
    assert len(files) == 8
    rows = read_squad_file(files[0])
    assert len(rows) == 1190 and rows[0]["lang"] == files[0].name.split(".")[1]
    en = json.loads((XQUAD / "xquad.en.json").read_text(encoding="utf-8"))
    train = _squad_file(tmp_path / "train.en.json", en, slice(0, 60))
    evals = [_squad_file(tmp_path / f.name, json.loads(f.read_text(encoding="utf-8")), slice(230, 234)) for f in files]
    out = tmp_path / "xq"
    finetune_qa.main(["--config", config("finetune_qa"), "--model_name_or_path", str(pretrained_run),
                      "--train_file", str(train), "--eval_files", *map(str, evals), "--max_steps", "4",
                      "--output_dir", str(out), *FAST])
    record = json.loads((out / "lingbridge_run.json").read_text())
    assert record["squad_version"] == "v1.1"
    table = record["metrics"]["per_language"]
    assert set(table) == {"ar", "de", "en", "es", "ru", "tr", "vi", "zh", "all"}
    assert all(table[lang]["n"] == table["en"]["n"] > 0 for lang in table if lang != "all")
    assert record["metrics"]["transfer"]["target_languages"] == ["ar", "de", "es", "ru", "tr", "vi", "zh"]
    assert record["windows"]["test"] > record["rows"]["test"]  # XQuAD contexts exceed max_seq_length
    assert record["answer_spans"]["test"]["answers_dropped"] == 0


@pytest.mark.parametrize("args,expected", [
    (["--doc_stride", "128"], "doc_stride (128) must be smaller than max_seq_length"),
    (["--train_languages", "fr"], "train_languages ['fr'] are not in the data"),
    (["--eval_files", "/no/such.json"], "eval_files: file not found"),
    (["--version_2_with_negative", "false"], "unanswerable questions"),
    (["--dataset_name", "sample:sentiment"], "no column 'question'"),
])
def test_qa_user_mistakes(args, expected, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        finetune_qa.main(["--config", config("finetune_qa"), "--config_name", "tiny",
                          "--output_dir", str(tmp_path / "run"), *args])
    assert exit_.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0], lines
    assert not list(tmp_path.iterdir())


def test_recipe_runs_as_a_script_and_plans(tmp_path):
    proc = run_cli(["lingbridge", "plan", "finetune_qa", "--config", config("finetune_qa"), "--config_name", "tiny"],
                   cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "languages:         de, en, zh" in proc.stdout and "training rows:" in proc.stdout
    proc = run_cli(recipe("finetune_qa") + ["--config", config("finetune_qa"), "--doc_stride", "500"], timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error: doc_stride (500)")
