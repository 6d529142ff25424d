"""`lingbridge evaluate --suite xtreme-lite` on tiny models and the real public data in ../shared/datasets:
PAWS-X and XQuAD through the recipes, Tatoeba retrieval, FLORES-200 for a tiny seq2seq model, the
splits (nothing tested is trained on), the references, and the argument errors."""

import json

import numpy as np
import pytest

from conftest import SHARED_DATASETS
from lingbridge.errors import UserError
from lingbridge.retrieval import tatoeba_pairs
from lingbridge.suite import cmd_evaluate
from lingbridge.suite import data as D

needs_data = pytest.mark.skipif(not all((SHARED_DATASETS / d).is_dir() for d in ("pawsx", "xquad", "tatoeba-laser",
                                                                                  "flores200")),
                                reason="../shared/datasets (PAWS-X, XQuAD, Tatoeba, FLORES-200) absent")
TINY = ["--max_train_samples", "48", "--max_eval_samples", "12", "--tatoeba_max_pairs", "40", "--max_steps", "6",
        "--batch_size", "8", "--dev_samples", "16"]


@pytest.fixture(scope="module")
def suite_run(pretrained_run, tmp_path_factory):
    if not (SHARED_DATASETS / "pawsx").is_dir():
        pytest.skip("../shared/datasets absent")
    out = tmp_path_factory.mktemp("suite") / "ev"
    path = cmd_evaluate([str(pretrained_run), "--data_dir", str(SHARED_DATASETS), "--output_dir", str(out),
                         "--languages", "en,de,zh,ar", *TINY])
    assert path == out
    return out


@needs_data
def test_suite_run_directory_tables_and_references(suite_run):
    record = json.loads((suite_run / "lingbridge_run.json").read_text())
    assert record["job"] == "evaluate" and record["tasks_run"] == ["pawsx", "xquad", "tatoeba"]
    tasks = record["metrics"]["tasks"]
    # PAWS-X has no Arabic; XQuAD and Tatoeba do: each task tests the languages its data has
    assert set(tasks["pawsx"]["per_language"]) == {"en", "de", "zh", "all"}
    assert set(tasks["xquad"]["per_language"]) == {"en", "de", "zh", "ar", "all"}
    assert set(tasks["tatoeba"]["per_language"]) == {"de", "zh", "ar", "all"}
    assert all(row["n"] == 12 for lang, row in tasks["pawsx"]["per_language"].items() if lang != "all")
    assert all(row["n"] == 40 for lang, row in tasks["tatoeba"]["per_language"].items() if lang != "all")
    for task, metric in (("pawsx", "accuracy"), ("xquad", "f1")):
        s = tasks[task]["summary"]
        table = tasks[task]["per_language"]
        targets = [lang for lang in table if lang not in ("en", "all")]
        assert s["metric"] == metric and s["source_languages"] == ["en"]
        assert s["target_average"] == pytest.approx(np.mean([table[t][metric] for t in targets]), abs=0.01)
        assert s["transfer_gap"] == pytest.approx(table["en"][metric] - s["target_average"], abs=0.02)
        assert 0 <= table["all"][metric] <= 100  # percent, as XTREME reports
    # the recipes ran as a user runs them: their own run directories inside the suite's
    for task in ("pawsx", "xquad"):
        sub = suite_run / tasks[task]["run_dir"]
        assert (sub / "lingbridge_run.json").is_file() and (sub / "model.safetensors").is_file()
    results = (suite_run / "results.md").read_text()
    assert "No article is in both training and test" in results
    assert "Hu et al., 2020" in results and "XLM-R large" in results and "mBERT" in results
    assert (suite_run / "README.md").is_file() and (suite_run / "suite.png").is_file()
    assert record["metrics"]["transfer"]["gap"]["accuracy"]["gap"] == tasks["pawsx"]["summary"]["transfer_gap"]


@needs_data
def test_suite_splits_keep_test_items_out_of_training(suite_run):
    def rows(task, split):
        return [json.loads(x) for x in (suite_run / "data" / task / f"{split}.jsonl").read_text().splitlines()]

    # PAWS-X: the dev sets are translations of the same pairs: a test index is never a training index
    test_ids = {r["id"] for r in rows("pawsx", "test")}
    assert test_ids.isdisjoint({r["id"] for r in rows("pawsx", "train")} | {r["id"] for r in rows("pawsx", "dev")})
    assert test_ids.isdisjoint({r["id"] for r in rows("pawsx", "pool")})
    assert {r["lang"] for r in rows("pawsx", "train")} == {"en"}
    # XQuAD: no article in both
    test_titles = {r["title"] for r in rows("xquad", "test")}
    assert test_titles.isdisjoint({r["title"] for r in rows("xquad", "train")} | {r["title"] for r in rows("xquad", "dev")})
    # the same questions in every language (XQuAD is parallel)
    by_lang = {}
    for r in rows("xquad", "test"):
        by_lang.setdefault(r["lang"], set()).add(r["id"])
    assert len({frozenset(v) for v in by_lang.values()}) == 1
    # per-item results for readiness: QA questions and retrieval queries
    items = [json.loads(x) for x in (suite_run / "predictions" / "tatoeba.jsonl").read_text().splitlines()]
    assert len(items) == 3 * 40 and {"lang", "gold", "pred"} <= set(items[0])
    qa_items = [json.loads(x) for x in (suite_run / "predictions" / "xquad.jsonl").read_text().splitlines()]
    assert len(qa_items) == 4 * 12 and {"lang", "em", "f1"} <= set(qa_items[0])


@needs_data
def test_pawsx_reader_survives_the_broken_korean_row():
    rows, notes = D.read_pawsx_file(SHARED_DATASETS / "pawsx" / "dev-ko.tsv")
    assert len(rows) == 2000 and all(r is not None for r in rows)  # U+001C inside a sentence splits no row
    assert any("control characters" in n for n in notes)
    assert not any("\x1c" in r["text"] + r["text_pair"] for r in rows)


def test_retrieval_finds_identical_sentences_and_misses_shuffled_ones(pretrained_run):
    from transformers import AutoModel, AutoTokenizer

    from lingbridge.retrieval import retrieval_accuracy_table, retrieval_hits, xtreme_layer

    assert (xtreme_layer(12), xtreme_layer(24), xtreme_layer(2)) == (8, 14, 2)  # XTREME's layers 7/13 after embeddings
    model, tok = AutoModel.from_pretrained(pretrained_run), AutoTokenizer.from_pretrained(pretrained_run)
    de = ["Guten Morgen.", "Wo ist der Bahnhof?", "Ich habe Hunger.", "Das Wetter ist heute schön.", "Danke schön!"]
    table = retrieval_accuracy_table(model, tok, {"de": (de, de)})  # a sentence is its own nearest neighbour
    assert table["de"] == {"accuracy": 100.0, "n": 5} and table["all"]["accuracy"] == 100.0
    q = np.eye(3)
    assert retrieval_hits(q, q[[1, 0, 2]]).tolist() == [0.0, 0.0, 1.0]


@needs_data
def test_flores_for_a_tiny_seq2seq_model(tiny_seq2seq, tmp_path):
    import sacrebleu

    model_dir = tiny_seq2seq
    out = cmd_evaluate([str(model_dir), "--data_dir", str(SHARED_DATASETS), "--output_dir", str(tmp_path / "ev"),
                        "--directions", "en-de", "de-en", "--max_eval_samples", "4", "--generation_max_length", "6"])
    record = json.loads((out / "lingbridge_run.json").read_text())
    assert record["tasks_run"] == ["flores"]
    table = record["metrics"]["tasks"]["flores"]["per_language"]
    assert set(table) == {"en-de", "de-en", "all"} and table["en-de"]["n"] == 4
    rows = [json.loads(x) for x in (out / "predictions" / "flores.jsonl").read_text().splitlines()]
    sub = [r for r in rows if r["direction"] == "en-de"]
    refs = (SHARED_DATASETS / "flores200" / "deu_Latn.devtest").read_text().splitlines()[:4]
    assert [r["ref"] for r in sub] == refs
    assert table["en-de"]["chrf"] == pytest.approx(sacrebleu.corpus_chrf([r["hyp"] for r in sub], [refs]).score, abs=1e-3)


def test_argument_mistakes_exit_2_with_one_line(pretrained_run, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cmd_evaluate([str(pretrained_run), "--tasks", "pawx"])
    assert exc.value.code == 2 and "did you mean 'pawsx'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cmd_evaluate([str(pretrained_run), "--tasks", "flores", "--data_dir", str(tmp_path)])
    assert "do(es) not apply" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cmd_evaluate([str(tmp_path / "nope")])
    assert "no such folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cmd_evaluate([str(pretrained_run), "--max_eval_samples", "0"])
    assert "at least 1" in capsys.readouterr().err


def test_offline_hub_data_is_a_clear_error(pretrained_run, tmp_path):
    with pytest.raises(UserError, match="give --data_dir"):
        D.pawsx_splits(None, ["en"], 8, 8, 4, 0)
    with pytest.raises(UserError, match="Tatoeba needs --data_dir"):
        tatoeba_pairs(None, ["de"], 10)


def test_references_match_model_ids():
    from lingbridge.suite.references import REFERENCES, model_key, references_for

    assert model_key("FacebookAI/xlm-roberta-large") == "xlm-roberta-large"
    assert model_key("bert-base-multilingual-cased") == "bert-base-multilingual-cased"
    assert model_key("xlm-roberta-base") == "xlm-roberta-base"  # known, with no published figure
    assert "xlm-roberta-base" not in REFERENCES and model_key("my/own-model") is None
    assert {r["model"] for r in references_for("pawsx")} == {"bert-base-multilingual-cased", "xlm-roberta-large"}
    assert all("Table 2" in r["source"] for r in references_for("xquad"))


def test_help_and_cheap_import():
    import subprocess
    import sys

    code = ("import sys, lingbridge.suite, lingbridge.readiness; "
            "print(any(m in sys.modules for m in ('torch', 'transformers', 'datasets', 'gradio')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    from lingbridge.suite import build_parser

    assert "--max_train_samples" in build_parser().format_help()


@needs_data
def test_evaluate_tatoeba_for_the_end_of_pretraining(pretrained_run, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    from lingbridge.retrieval import evaluate_tatoeba

    model, tok = AutoModel.from_pretrained(pretrained_run), AutoTokenizer.from_pretrained(pretrained_run)
    out = evaluate_tatoeba(model, tok, SHARED_DATASETS, ["de", "fr"], max_pairs=20)
    assert set(out["per_language"]) == {"de", "fr", "all"} and out["per_language"]["de"]["n"] == 20
    assert out["layer"] == 2 and 0 <= out["per_language"]["all"]["accuracy"] <= 100
    assert evaluate_tatoeba(model, tok, tmp_path) is None  # no files: nothing to report, no error


def test_pretraining_reports_alignment_on_held_out_pairs(pretrained_run):
    record = json.loads((pretrained_run / "lingbridge_run.json").read_text())
    table = record["metrics"]["retrieval"]["parallel_validation"]
    assert "all" in table and len(table) > 2, table  # every language paired with English, and the average
    assert all(0 <= row["accuracy"] <= 100 and row["n"] > 0 for row in table.values())


def test_held_out_pairs_query_from_the_other_language_with_each_text_once():
    from lingbridge.retrieval import held_out_pairs

    rows = [{"src_lang": "en", "src": "Hello", "tgt_lang": "de", "tgt": "Hallo"},
            {"src_lang": "fr", "src": "Bonjour", "tgt_lang": "en", "tgt": "Hello there"},
            {"src_lang": "en", "src": "Hello", "tgt_lang": "de", "tgt": "Servus"},  # English text seen: two answers
            {"src_lang": "de", "src": "Ja", "tgt_lang": "fr", "tgt": "Oui"},  # no English side
            {"src_lang": "en", "src": "Yes", "tgt_lang": "de", "tgt": "Ja"}]
    assert held_out_pairs(rows) == {"de": (["Hallo", "Ja"], ["Hello", "Yes"]), "fr": (["Bonjour"], ["Hello there"])}
    assert held_out_pairs(rows, max_pairs=1)["de"] == (["Hallo"], ["Hello"])


@needs_data
def test_readiness_on_the_suite_run_qa_and_retrieval(suite_run):
    from lingbridge.readiness import cmd_readiness

    # QA: bootstrap over the questions' F1, and two few-shot QA finetunes on the German pool
    qa = cmd_readiness([str(suite_run), "--task", "xquad", "--metric", "f1", "--threshold", "0.9", "--markets", "de",
                        "--shots", "8,16", "--fewshot_epochs", "1"])
    de = qa["markets"]["de"]
    assert de["interval_method"] == "bootstrap" and de["status"] == "not ready" and de["n"] == 12
    assert [p["k"] for p in de["data_needed"]["points"]] == [0, 8, 16]
    assert de["data_needed"]["verdict"] and "fit" in de["data_needed"]
    # retrieval: no finetuning to estimate from
    ret = cmd_readiness([str(suite_run), "--task", "tatoeba", "--metric", "accuracy", "--threshold", "0.5"])
    assert {e["interval_method"] for e in ret["markets"].values()} == {"bootstrap"}
    assert all("involves no finetuning" in e["data_needed"]["verdict"] for e in ret["markets"].values())
    assert json.loads((suite_run / "markets.json").read_text())["task"] == "tatoeba"  # the latest assessment


def test_answer_sentence_pairs_are_qnli_from_squad_rows():
    context = "Tesla was born in 1856. He died in 1943! Was he rich? No."
    zh = "特斯拉生于1856年。他于1943年去世。他富有吗？"
    rows = [{"id": "q1", "question": "When did Tesla die?", "context": context, "lang": "en",
             "answers": {"text": ["1943"], "answer_start": [context.index("1943")]}},
            {"id": "q1", "question": "特斯拉哪年去世？", "context": zh, "lang": "zh",
             "answers": {"text": ["1943"], "answer_start": [zh.index("1943")]}},
            {"id": "q2", "question": "One?", "context": "Only one sentence here", "lang": "en",  # nothing to contrast
             "answers": {"text": ["one"], "answer_start": [5]}},
            {"id": "q3", "question": "Across?", "context": context, "lang": "en",  # the answer spans two sentences
             "answers": {"text": ["1856. He"], "answer_start": [context.index("1856")]}}]
    assert [context[a:b] for a, b in D.split_sentences(context)] == ["Tesla was born in 1856.", "He died in 1943!",
                                                                      "Was he rich?", "No."]
    assert [zh[a:b] for a, b in D.split_sentences(zh)] == ["特斯拉生于1856年。", "他于1943年去世。", "他富有吗？"]
    pairs = D.answer_sentence_pairs(rows, seed=0)
    assert [(p["lang"], p["label"]) for p in pairs] == [("en", "1"), ("en", "0"), ("zh", "1"), ("zh", "0")]
    assert pairs[0]["text_pair"] == "He died in 1943!" and pairs[2]["text_pair"] == "他于1943年去世。"
    assert "1943" not in pairs[1]["text_pair"] + pairs[3]["text_pair"]
    assert D.answer_sentence_pairs(rows, seed=0) == pairs  # the negative is seeded by the question: the same each call
    negatives = {D.answer_sentence_pairs(rows, seed=s)[1]["text_pair"] for s in range(20)}
    assert len(negatives) > 1  # ... and the seed changes it
