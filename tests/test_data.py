"""Data: the bundled sample, loaders for every format, cleaning rules, labels, language sampling."""

import json
import unicodedata

import numpy as np
import pytest

from lingbridge.config import CleaningArguments, DataArguments
from lingbridge.data import clean_splits, load_sample, load_splits, language_sampling_probs, sample_by_language
from lingbridge.data.clean import normalize_text
from lingbridge.data.bundled import sample_languages
from lingbridge.errors import UserError
from lingbridge.tasks.classification import cast_labels


def _scripts(texts):
    names = set()
    for t in texts:
        for ch in t:
            if ch.isalpha():
                names.add(unicodedata.name(ch, "?").split()[0])
    return names


def test_sample_corpus_is_big_and_multiscript():
    langs = sample_languages()
    assert len(langs) >= 6 and {"en", "zh"} <= set(langs) and {"ar", "ru", "ja"} & set(langs)
    corpus = load_sample("corpus")
    rows = sum(len(d) for d in corpus.values())
    per_lang = rows / len(langs)
    assert per_lang >= 300, "hundreds of lines per language"
    texts = [t for d in corpus.values() for t in d["text"]]
    scripts = _scripts(texts)
    assert {"LATIN", "CJK", "ARABIC", "CYRILLIC"} <= scripts
    assert "HIRAGANA" in scripts or "KATAKANA" in scripts


def test_sample_sentiment_and_parallel():
    senti = load_sample("sentiment")
    assert senti["train"].features["label"].names == ["negative", "neutral", "positive"]
    langs = set(senti["train"]["lang"])
    assert len(langs) >= 3
    counts = np.bincount(senti["train"]["label"])
    assert counts.min() > 0.25 * counts.sum()
    par = load_sample("parallel")
    assert set(par["train"]["src_lang"]) == {"en"} and len(set(par["train"]["tgt_lang"])) >= 5


def test_sample_splits_keep_translations_together():
    senti = load_sample("sentiment")
    items = {split: {i.rsplit("-", 1)[0] for i in d["id"]} for split, d in senti.items()}
    assert not items["train"] & items["test"] and not items["train"] & items["validation"]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "jsonl", "parquet"])
def test_local_formats_and_column_mapping(tmp_path, fmt):
    import pandas as pd

    df = pd.DataFrame({"sentence": ["good film", "bad film", "okay film", "great day"],
                       "y": ["pos", "neg", "neu", "pos"], "language": ["en"] * 4})
    path = tmp_path / f"train.{fmt}"
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "tsv":
        df.to_csv(path, index=False, sep="\t")
    elif fmt == "json":
        df.to_json(path, orient="records", lines=True)
    elif fmt == "jsonl":
        df.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        df.to_parquet(path)
    args = DataArguments(train_file=str(path), text_column="sentence", label_column="y", lang_column="language",
                         validation_split_percentage=25)
    dsd, sources, langs = load_splits(args, {"text": "sentence", "label": "y", "lang": "language"})
    assert set(dsd) == {"train", "validation"} and langs == ["en"]
    assert {"text", "label", "lang"} <= set(dsd["train"].column_names)
    assert sum(len(d) for d in dsd.values()) == 4


def test_txt_files_load(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("first line\nsecond line\n", encoding="utf-8")
    dsd, _, langs = load_splits(DataArguments(train_file=str(path), languages=["en"], validation_split_percentage=0),
                                {"text": "text", "lang": "lang"})
    assert dsd["train"]["text"] == ["first line", "second line"] and langs == ["en"]


def test_unknown_column_and_non_utf8(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("sentence,label\nhello,a\nbye,b\n")
    with pytest.raises(UserError, match="no column 'text'.*columns are: sentence, label"):
        load_splits(DataArguments(train_file=str(path)), {"text": "text", "label": "label"})
    latin1 = tmp_path / "l.csv"
    latin1.write_bytes("text,label\ncaf\xe9,a\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"l.csv:2: not valid UTF-8"):
        load_splits(DataArguments(train_file=str(latin1)), {"text": "text", "label": "label"})


def test_normalize_text():
    assert normalize_text("ｆｕｌｌ\u200b  width\tand\u0007 bell ") == "full width and bell"
    assert normalize_text("می\u200cخواهم") == "می\u200cخواهم"  # Persian ZWNJ survives


def _dsd(train, test):
    from datasets import Dataset, DatasetDict

    return DatasetDict({"train": Dataset.from_list(train), "test": Dataset.from_list(test)})


def test_cleaning_rules_count_what_they_do():
    train = [
        {"text": "The hotel was lovely and quiet.", "lang": "en"},
        {"text": "the hotel was LOVELY and quiet!", "lang": "en"},        # exact dup after normalisation
        {"text": "Our room had a lovely view of the old harbour and the boats.", "lang": "en"},
        {"text": "Our room had a lovely view of the old harbor and the boats.", "lang": "en"},  # near dup
        {"text": "x", "lang": "en"},                                      # too short
        {"text": "Das Essen war kalt und teuer.", "lang": "en"},          # wrong language label
        {"text": "Der Zug kam pünktlich in Berlin an.", "lang": "de"},
        {"text": "A test sentence that leaked.", "lang": "en"},           # also in test
        {"text": "Ein Satz, der auch im Test steht.", "lang": "de"},
    ]
    test = [{"text": "A test sentence that leaked.", "lang": "en"},
            {"text": "Ein Satz, der auch im Test steht.", "lang": "fr"}]   # same text, other language
    args = CleaningArguments(langid="flag", near_dedup_threshold=0.7)
    dsd, report = clean_splits(_dsd(train, test), args)
    rules = report["rules"]
    assert rules["length_filter"]["train"]["removed"] == 1
    assert rules["exact_dedup"]["train"]["removed"] == 1
    assert rules["near_dedup"]["train"]["removed"] == 1
    assert rules["langid"]["train"]["flagged"] >= 1
    assert any(e["detected"] == "de" for e in rules["langid"]["train"]["examples"])
    assert rules["contamination"]["train"]["removed_from_train"] == 2
    assert rules["contamination"]["across_languages"]["flagged"] == 1
    assert report["rows_after"]["train"] == 4 and report["rows_after"]["test"] == 2
    assert "A test sentence that leaked." not in dsd["train"]["text"]


def test_empty_after_cleaning_is_a_user_error():
    with pytest.raises(UserError, match="train split is empty after cleaning"):
        clean_splits(_dsd([{"text": "a", "lang": "en"}], [{"text": "fine text", "lang": "en"}]), CleaningArguments())


def test_labels_cast_and_bad_label_message():
    from datasets import Dataset, DatasetDict

    dsd = DatasetDict({"train": Dataset.from_dict({"label": ["pos", "neg", "pos"]}),
                       "test": Dataset.from_dict({"label": ["neg", "meh"]})})
    with pytest.raises(UserError, match=r"test split, row 2\): label 'meh' is not one of \['neg', 'pos'\].*label_list"):
        cast_labels(dsd, None, "data.csv")
    dsd["test"] = Dataset.from_dict({"label": ["neg", "pos"]})
    out, names = cast_labels(dsd, ["neg", "pos"], "data.csv")
    assert names == ["neg", "pos"] and out["train"]["label"] == [1, 0, 1]
    assert out["train"].features["label"].names == ["neg", "pos"]


def test_language_sampling_follows_xlmr():
    q = language_sampling_probs({"en": 900, "sw": 100}, alpha=0.3)
    p_en, p_sw = 0.9, 0.1
    expected = p_sw**0.3 / (p_en**0.3 + p_sw**0.3)
    assert q["sw"] == pytest.approx(expected) and q["sw"] > 0.1
    assert language_sampling_probs({"en": 900, "sw": 100}, alpha=1.0)["sw"] == pytest.approx(0.1)
    from datasets import Dataset

    ds = Dataset.from_dict({"text": ["x"] * 1000, "lang": ["en"] * 900 + ["sw"] * 100})
    sampled, report = sample_by_language(ds, alpha=0.3, seed=0)
    share = np.mean(np.array(sampled["lang"]) == "sw")
    assert share == pytest.approx(expected, abs=0.01) and report["sw"]["sampled"] > 100


def test_dedup_is_per_language_and_cross_language_copies_are_flagged():
    train = [{"text": "Hotel Berlin, Zimmer 12.", "lang": "de"}, {"text": "Hotel Berlin, Zimmer 12.", "lang": "en"},
             {"text": "Hotel Berlin, Zimmer 12!", "lang": "de"}]
    dsd, report = clean_splits(_dsd(train, [{"text": "something else entirely", "lang": "en"}]), CleaningArguments())
    assert report["rules"]["exact_dedup"]["train"]["removed"] == 1  # the German copy, not the English row
    assert sorted(dsd["train"]["lang"]) == ["de", "en"]
    assert report["rules"]["contamination"]["across_languages"]["flagged"] == 1
