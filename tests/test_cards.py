"""Model cards: valid Hub metadata (checked locally, no network), every metric per language in the
model-index, every section the issue asks for, and a usage snippet that runs against the run."""

import contextlib
import io
import re

import pytest
from huggingface_hub import ModelCard

from conftest import config
from lingbridge.cards import render_card, validate_card
from lingbridge.recipes import finetune_classification
from lingbridge.record import read_record


@pytest.fixture(scope="module")
def finetuned(pretrained_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("cards")
    common = ["--config", config("finetune_classification", "sentiment_tiny"), "--model_name_or_path", str(pretrained_run), "--max_steps", "4",
              "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false", "--disable_tqdm", "true"]
    finetune_classification.main([*common, "--output_dir", str(root / "merged")])
    finetune_classification.main([*common, "--output_dir", str(root / "adapter"), "--merge_lora", "false"])
    return {"merged": root / "merged", "adapter": root / "adapter"}


def _snippet(card) -> str:
    return re.search(r"```python\n(.*?)```", card.text, re.S).group(1)


def _run_snippet(code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<card snippet>", "exec"), {})
    return out.getvalue()


def test_classification_card(finetuned):
    run = finetuned["merged"]
    record = read_record(run)
    card = render_card(run)
    assert validate_card(card) == []
    card = ModelCard(str(card), ignore_metadata_errors=False)  # re-parses as the Hub client does
    data = card.data
    assert data.language == record["languages"] and data.license == "apache-2.0"
    assert data.pipeline_tag == "text-classification" and data.library_name == "transformers"
    assert {"lingbridge", "finetune_classification", "lora", "multilingual"} <= set(data.tags)
    assert data.base_model is None  # the base was a local folder, which is no Hub id
    # one model-index result per metric and language, with the value from the record
    table = record["metrics"]["per_language"]
    expected = {(lang, m): v for lang, row in table.items() for m, v in row.items() if m != "n"}
    got = {(r.dataset_config or "all", r.metric_type): r.metric_value for r in data.eval_results}
    assert got == pytest.approx(expected)
    text = card.text
    for heading in ("## Intended use", "## How to use", "## Training data", "## Training procedure", "## Results",
                    "### Zero-shot cross-lingual transfer", "## Limitations and bias", "## Environmental and compute note"):
        assert heading in text
    assert "| split | before | after |" in text and "exact_dedup" in text  # cleaning stats
    assert "`learning_rate`" in text and "LoRA on ['query', 'value']" in text  # training config
    assert "| de | source |" in text and "| fr | target |" in text and "gap" in text  # transfer table
    assert f"{record['metrics']['per_language']['en']['accuracy']:.4f}" in text  # per-language results
    assert f"in {record['wall_time_s']:.0f} s of wall time" in text and "CPU" in text
    # the snippet runs as written against the run directory
    printed = _run_snippet(_snippet(card))
    assert any(label in printed for label in record["label_names"])


def test_adapter_card_snippet_runs(finetuned):
    card = render_card(finetuned["adapter"])
    assert validate_card(card) == [] and card.data.library_name == "peft"
    assert "AutoPeftModelForSequenceClassification" in _snippet(card)
    assert "'label': 'negative'" in _run_snippet(_snippet(card)) or "negative" in _run_snippet(_snippet(card))
    merged = render_card(finetuned["adapter"], "org/name", publish_as="merged", base_model="org/base")
    assert merged.data.library_name == "transformers" and merged.data.base_model == "org/base"


def test_pretrain_card(pretrained_run):
    card = render_card(pretrained_run, "org/tiny-xlmr")
    assert validate_card(card) == []
    assert card.data.pipeline_tag == "fill-mask" and card.data.model_name == "org/tiny-xlmr"
    assert {r.metric_type for r in card.data.eval_results} == {"loss", "perplexity"}
    snippet = _snippet(card).replace("org/tiny-xlmr", str(pretrained_run))
    assert "'token_str'" in _run_snippet(snippet)


def test_validate_card_finds_problems(pretrained_run):
    text = str(render_card(pretrained_run))
    bad = text.replace("license: apache-2.0", "license: my-license").replace("- ar\n", "- xx\n", 1)
    bad = bad.replace("library_name:", "base_model: /home/me/model\nlibrary_name:", 1)
    problems = validate_card(bad)
    assert any("license 'my-license'" in p for p in problems)
    assert any("language 'xx'" in p for p in problems)
    assert any("is a path" in p for p in problems)
    broken = text.replace("    metrics:\n    - type: loss", "    metrics:\n    - typo: loss", 1)
    assert validate_card(broken)[0].startswith("metadata does not parse")


@pytest.mark.parametrize("task", ["question-answering", "translation"])
def test_qa_and_translation_snippets_run(pretrained_run, tiny_seq2seq, tmp_path, task):
    """transformers v5 has no QA or translation pipeline: the cards' snippets must still run, and print
    what the saved model predicts for the card's example."""
    import shutil

    import torch
    from transformers import AutoModelForQuestionAnswering, AutoModelForSeq2SeqLM, AutoTokenizer

    from lingbridge.record import write_record

    tok = AutoTokenizer.from_pretrained(pretrained_run)
    if task == "translation":
        shutil.copytree(tiny_seq2seq, tmp_path, dirs_exist_ok=True)
        model = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
        example, table = "Good morning.", {"en-de": {"bleu": 3.0, "chrf": 20.0, "n": 4}, "all": {"bleu": 3.0, "n": 4}}
        with torch.no_grad():
            ids = model.generate(**tok(example, return_tensors="pt"), max_new_tokens=64)
        expected = tok.decode(ids[0], skip_special_tokens=True)
    else:
        model = AutoModelForQuestionAnswering.from_pretrained(pretrained_run).eval()
        model.save_pretrained(tmp_path)
        tok.save_pretrained(tmp_path)
        example = {"question": "Where is the museum?", "context": "The museum is in the old town."}
        table = {"en": {"exact_match": 0.1, "f1": 0.2, "n": 5}, "all": {"exact_match": 0.1, "f1": 0.2, "n": 5}}
        enc = tok(example["question"], example["context"], truncation="only_second", return_tensors="pt")
        with torch.no_grad():
            out = model(**enc)
        start, end = int(out.start_logits[0].argmax()), int(out.end_logits[0].argmax())
        expected = tok.decode(enc["input_ids"][0][start:end + 1])
    write_record(tmp_path, {"job": f"finetune_{task}", "pipeline_tag": task, "languages": ["en", "de"],
                            "example_input": example, "metrics": {"per_language": table}})
    card = render_card(tmp_path)
    assert validate_card(card) == [] and card.data.pipeline_tag == task
    assert _run_snippet(_snippet(card)) == expected + "\n"
