"""Tokenizer: a Unigram model trained with language sampling loads with AutoTokenizer."""

from transformers import AutoTokenizer

from lingbridge.data import load_sample, sample_by_language
from lingbridge.tokenization import fertility, language_tag, train_unigram_tokenizer


def test_unigram_tokenizer_roundtrip(tmp_path):
    corpus = load_sample("corpus")["train"]
    sampled, _ = sample_by_language(corpus, alpha=0.3, seed=0)
    langs = sorted(set(corpus["lang"]))
    tok = train_unigram_tokenizer(sampled["text"], vocab_size=4000, languages=langs, model_max_length=64,
                                  show_progress=False)
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded.model_max_length == 64
    assert loaded.mask_token == "<mask>" and loaded.pad_token_id == 1 and loaded.cls_token_id == 0
    ids = loaded(f"{language_tag('de')} Guten Morgen", "Good morning")["input_ids"]
    tokens = loaded.convert_ids_to_tokens(ids)
    assert tokens[0] == "<s>" and tokens[-1] == "</s>" and tokens.count("</s>") == 3
    assert language_tag("de") in tokens, "language tags are single special tokens"
    assert loaded.decode(loaded("Guten Morgen")["input_ids"], skip_special_tokens=True) == "Guten Morgen"
    fert = fertility(loaded, {"en": ["the weather is nice today"], "zh": ["今天天气很好"]})
    assert fert["zh"]["primary"] == "tokens_per_char" and fert["en"]["primary"] == "tokens_per_word"
    assert 0 < fert["en"]["tokens_per_word"] < 5


def test_the_same_corpus_trains_the_same_tokenizer():
    """The Unigram trainer's scores vary in the 15th digit from run to run (it sums in a Rust HashMap's order);
    they flipped segmentations, and two runs of the same seeded quickstart trained different models."""
    texts = load_sample("corpus")["train"]["text"]
    first, second = (train_unigram_tokenizer(texts, vocab_size=2000, languages=["en"], show_progress=False)
                     for _ in range(2))
    assert first.backend_tokenizer.to_str() == second.backend_tokenizer.to_str()
