"""Augmentation: seeded noise and back-translation, on the training split only, share recorded."""

import json
import random

import pytest

from conftest import config
from lingbridge.data.augment import AugmentationArguments, augment_train, noise_text
from lingbridge.errors import UserError
from lingbridge.recipes import finetune_classification
from lingbridge.tasks.translation import back_translate

EN = "the soup was cold and the waiter was rude to every guest at our table"
ZH = "汤是冷的，服务员对我们桌上的每位客人都很粗鲁。"


def test_noise_is_seeded_and_keeps_to_its_rate():
    for method in ("deletion", "swap", "mask"):
        assert noise_text(EN, method, 0.3, random.Random(1)) == noise_text(EN, method, 0.3, random.Random(1))
        assert noise_text(EN, method, 0.0, random.Random(1)) == EN
    rng = random.Random(0)
    deleted = [noise_text(EN, "deletion", 0.3, rng).split() for _ in range(200)]
    kept = sum(map(len, deleted)) / (200 * len(EN.split()))
    assert 0.62 < kept < 0.78  # about 30% of the words dropped
    swapped = noise_text(EN, "swap", 0.2, random.Random(0)).split()
    assert sorted(swapped) == sorted(EN.split()) and swapped != EN.split()
    masked = noise_text(EN, "mask", 0.5, random.Random(0), "[MASK]").split()
    assert len(masked) == len(EN.split()) and 0 < masked.count("[MASK]") < len(masked)
    # text without spaces is noised per character, and a mask stays a separate token
    zh = noise_text(ZH, "mask", 0.3, random.Random(0), "<mask>")
    assert " <mask> " in f" {zh} " and zh.replace("<mask>", "").replace(" ", "") != ZH
    assert len(noise_text(ZH, "deletion", 0.3, random.Random(0))) < len(ZH)


def _train():
    from datasets import Dataset

    return Dataset.from_list([{"text": EN, "label": 0, "lang": "en"}, {"text": ZH, "label": 2, "lang": "zh"},
                              {"text": "one", "label": 1, "lang": "en"}])


def test_augment_train_adds_labelled_copies_and_records_the_share():
    args = AugmentationArguments(augment="deletion,mask", augment_rate=0.3)
    train, info = augment_train(_train(), args, seed=0, mask_token="<mask>")
    assert info["rows_before"] == 3 and info["added"] == {"deletion": 2, "mask": 2}  # "one" cannot change
    assert len(train) == 7 and info["share"] == pytest.approx(4 / 7, abs=1e-4)
    assert info["per_language"]["en"] == {"rows": 2, "added": 2, "share": 0.5}
    originals = {r["text"]: r for r in _train().to_list()}
    for row in train.to_list()[3:]:
        assert row["text"] not in originals and row["label"] == (0 if row["lang"] == "en" else 2)
    again, _ = augment_train(_train(), args, seed=0, mask_token="<mask>")
    assert again["text"] == train["text"]  # seeded
    same, none = augment_train(_train(), AugmentationArguments(), seed=0)
    assert none is None and same["text"] == _train()["text"]


@pytest.mark.parametrize("kwargs,match", [
    ({"augment": "delete"}, "unknown method 'delete' \\(did you mean 'deletion'"),
    ({"augment": "swap", "augment_rate": 1.5}, "augment_rate must be in \\[0, 1\\)"),
    ({"augment": "swap", "augment_fraction": 0}, "augment_fraction must be in \\(0, 1\\]"),
    ({"augment": "backtranslation"}, "needs backtranslation_model"),
    ({"augment": "mask", "backtranslation_languages": ["xx"]}, "unknown language code 'xx'"),
])
def test_bad_augmentation_options(kwargs, match):
    with pytest.raises(UserError, match=match):
        AugmentationArguments(**kwargs)


@pytest.fixture(scope="module")
def tiny_mt(tmp_path_factory):
    """A tiny random BART with a Unigram tokenizer, saved like a translation run (offline, seconds)."""
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    from lingbridge.data import load_sample
    from lingbridge.tokenization import train_unigram_tokenizer

    texts = [r["text"] for r in load_sample("sample:sentiment")["train"] if r["lang"] == "en"]
    tok = train_unigram_tokenizer(texts, 300, model_max_length=64, show_progress=False)
    cfg = BartConfig(vocab_size=len(tok), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                     decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128,
                     pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                     decoder_start_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    model = BartForConditionalGeneration(cfg)
    model.generation_config.min_new_tokens = 3  # random weights: never an empty translation
    model.generation_config.suppress_tokens = [i for i in tok.all_special_ids if i != tok.eos_token_id]
    folder = tmp_path_factory.mktemp("mt")
    forward, backward = folder / "to_pivot", folder / "from_pivot"
    for path in (forward, backward):
        model.save_pretrained(path)
        tok.save_pretrained(path)
    return forward, backward


def test_back_translation_goes_to_the_pivot_and_back(tiny_mt, monkeypatch):
    import lingbridge.tasks.translation as augment

    calls = []
    real = augment.translate

    def spy(texts, model, tokenizer, batch_size, max_length, direction=None):
        out = real(texts, model, tokenizer, batch_size, max_length, direction)
        calls.append((model.name_or_path, list(texts), out))
        return out

    monkeypatch.setattr(augment, "translate", spy)
    texts = [EN, "great value for the money"]
    back, pivot = back_translate(texts, str(tiny_mt[0]), str(tiny_mt[1]), batch_size=1, max_length=8)
    assert [c[0] for c in calls] == [str(tiny_mt[0]), str(tiny_mt[1])]
    assert calls[0][1] == texts and calls[1][1] == pivot and calls[1][2] == back  # text → pivot → back
    assert len(back) == 2 and all(isinstance(t, str) and t for t in back + pivot)


def test_recipe_augments_the_training_split_only(tiny_mt, tmp_path):
    out = tmp_path / "aug"
    finetune_classification.main([
        "--config", config("finetune_classification", "sentiment_tiny"), "--output_dir", str(out), "--max_steps", "2",
        "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
        "--config_overrides", "num_hidden_layers=1,hidden_size=64", "--max_seq_length", "64",
        "--augment", "swap,backtranslation", "--augment_rate", "0.2",
        "--backtranslation_model", str(tiny_mt[0]), "--backtranslation_back_model", str(tiny_mt[1]),
        "--backtranslation_languages", "en", "--augment_fraction", "0.1", "--backtranslation_max_length", "8"])
    record = json.loads((out / "lingbridge_run.json").read_text())
    aug = record["augmentation"]
    before = aug["rows_before"]
    assert before == 609 and record["rows"]["train"] == aug["rows_after"] == before + aug["rows_added"]
    assert 0 < aug["added"]["backtranslation"] <= 203 * 0.2 and aug["added"]["swap"] > 0
    assert aug["share"] == pytest.approx(aug["rows_added"] / aug["rows_after"], abs=1e-4)
    assert aug["per_language"]["en"]["added"] > aug["per_language"]["de"]["added"]  # only en is back-translated
    assert any("pivot" in e for e in aug["examples"])
    # dev and test sets are untouched: the same rows as without augmentation
    assert record["rows"]["dev"] == 156 and record["rows"]["test"] == 360
    assert record["config"]["augment"] == "swap,backtranslation"


def test_back_translation_through_a_pivot_groups_rows_by_language(tiny_mt):
    args = AugmentationArguments(augment="backtranslation", backtranslation_model=str(tiny_mt[0]),
                                 backtranslation_pivot="en", backtranslation_max_length=8)
    train, info = augment_train(_train(), args, seed=0, back_translate=back_translate)
    assert info["added"] == {"backtranslation": 1}  # rows already in the pivot language are skipped
    new = train.to_list()[-1]
    assert new["lang"] == "zh" and new["label"] == 2 and info["examples"][0]["original"] == ZH
