"""Per-family translation logic on tiny tokenizers built offline: codes, prefixes, forced BOS, metrics."""

import json

import pytest

from lingbridge.errors import UserError
from lingbridge.tasks.translation import (bleu_tokenizer, make_directions, metrics_table, model_family, orient,
                                          parse_directions, tokenize_direction, translation_metrics)

SENTENCES = ["Hello world, this is a test.", "Hallo Welt, das ist ein Test.", "Bonjour le monde.",
             "My grandmother bakes bread on Sunday.", "Meine Großmutter backt Brot am Sonntag."] * 4


@pytest.fixture(scope="module")
def spm_model(tmp_path_factory):
    """A tiny SentencePiece model (the format Marian and M2M100 tokenizers read), trained offline."""
    spm = pytest.importorskip("sentencepiece")
    folder = tmp_path_factory.mktemp("spm")
    spm.SentencePieceTrainer.train(sentence_iterator=iter(SENTENCES), model_prefix=str(folder / "m"), vocab_size=50,
                                   model_type="unigram", character_coverage=1.0, minloglevel=2,
                                   pad_id=1, bos_id=0, eos_id=2, unk_id=3)
    sp = spm.SentencePieceProcessor(model_file=str(folder / "m.model"))
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    return folder / "m.model", pieces


def _pairs(*specs):
    return [tuple(s.split("-")) for s in specs]


def test_nllb_codes_and_forced_bos():
    from transformers import M2M100Config, NllbTokenizer

    tok = NllbTokenizer()
    config = M2M100Config(vocab_size=len(tok))
    assert model_family(config, tok) == "nllb"
    en_de, zh_en = make_directions(_pairs("en-de", "zh-en"), config, tok)
    assert (en_de.src_code, en_de.tgt_code) == ("eng_Latn", "deu_Latn")
    assert en_de.forced_bos_token_id == tok.convert_tokens_to_ids("deu_Latn") != tok.unk_token_id
    assert zh_en.src_code == "zho_Hans" and zh_en.gen_kwargs() == {"forced_bos_token_id": tok.convert_tokens_to_ids("eng_Latn")}
    assert en_de.prefix == ""
    # tokenisation: source opens with the source code, labels with the target code
    from datasets import Dataset

    ds = Dataset.from_dict({"src_lang": ["en"], "tgt_lang": ["de"], "src": ["hello"], "tgt": ["hallo"]})
    enc = tokenize_direction(ds, en_de, tok, 16, 16, config.decoder_start_token_id)[0]
    assert enc["input_ids"][0] == tok.convert_tokens_to_ids("eng_Latn")
    assert enc["labels"][0] == tok.convert_tokens_to_ids("deu_Latn") and enc["labels"][-1] == tok.eos_token_id


def test_nllb_override_for_a_missing_variety():
    from transformers import M2M100Config, NllbTokenizer

    tok = NllbTokenizer()
    (d,) = make_directions(_pairs("en-zh"), M2M100Config(), tok, overrides={"zh": "zho_Hant"})
    assert d.tgt_code == "zho_Hant" and d.forced_bos_token_id == tok.convert_tokens_to_ids("zho_Hant")
    with pytest.raises(UserError, match="no language code for 'la'"):
        make_directions(_pairs("en-la"), M2M100Config(), tok)


def test_mbart50_codes():
    from transformers import MBart50Tokenizer, MBartConfig

    tok = MBart50Tokenizer()
    config = MBartConfig(vocab_size=len(tok))
    assert model_family(config, tok) == "mbart50"
    d, back = make_directions(_pairs("en-ja", "ja-en"), config, tok)
    assert (d.src_code, d.tgt_code) == ("en_XX", "ja_XX")
    assert d.forced_bos_token_id == tok.convert_tokens_to_ids("ja_XX")
    assert back.forced_bos_token_id == tok.convert_tokens_to_ids("en_XX")
    (zh,) = make_directions(_pairs("en-zh"), config, tok)
    assert zh.tgt_code == "zh_CN"


def test_m2m100_codes(spm_model, tmp_path):
    from transformers import M2M100Config, M2M100Tokenizer

    model_file, pieces = spm_model
    vocab = tmp_path / "vocab.json"
    vocab.write_text(json.dumps({p: i for i, p in enumerate(pieces)}))
    tok = M2M100Tokenizer(vocab_file=str(vocab), spm_file=str(model_file))
    config = M2M100Config(vocab_size=len(tok))
    assert model_family(config, tok) == "m2m100"
    (d,) = make_directions(_pairs("en-fr"), config, tok)
    assert (d.src_code, d.tgt_code) == ("en", "fr")
    assert d.forced_bos_token_id == tok.get_lang_id("fr")


def test_marian_target_tokens_and_single_pair(spm_model, tmp_path):
    from transformers import MarianConfig, MarianTokenizer

    model_file, pieces = spm_model
    vocab = tmp_path / "vocab.json"
    vocab.write_text(json.dumps({p: i for i, p in enumerate(pieces + [">>deu<<", ">>fra<<", ">>cmn_Hans<<"])}))
    multi = MarianTokenizer(source_spm=str(model_file), target_spm=str(model_file), vocab=str(vocab))
    config = MarianConfig(vocab_size=len(multi))
    assert model_family(config, multi) == "marian"
    de, zh = make_directions(_pairs("en-de", "en-zh"), config, multi)
    assert de.prefix == ">>deu<< " and zh.prefix == ">>cmn_Hans<< " and de.forced_bos_token_id is None
    ids = multi(de.prefix + "Hello world")["input_ids"]
    assert ids[0] == multi.convert_tokens_to_ids(">>deu<<")  # one token, not pieces

    vocab.write_text(json.dumps({p: i for i, p in enumerate(pieces)}))
    single = MarianTokenizer(source_spm=str(model_file), target_spm=str(model_file), vocab=str(vocab))
    (d,) = make_directions(_pairs("en-de"), config, single)  # opus-mt-en-de: the target is implied
    assert d.prefix == ""
    with pytest.raises(UserError, match="no way to be told the target language"):
        make_directions(_pairs("en-de", "en-fr"), config, single)


def test_t5_task_prefix():
    from transformers import T5Config, T5Tokenizer

    tok = T5Tokenizer()
    for model_type in ("t5", "mt5"):
        config = T5Config()
        config.model_type = model_type
        assert model_family(config, tok) == "t5"
    d, back = make_directions(_pairs("en-de", "de-en"), T5Config(), tok)
    assert d.prefix == "translate English to German: " and back.prefix == "translate German to English: "
    (custom,) = make_directions(_pairs("en-de"), T5Config(), tok, source_prefix="{src} → {tgt}: ")
    assert custom.prefix == "English → German: "


def test_lingbridge_tokenizer_tags():
    from transformers import MarianConfig

    from lingbridge.tokenization import train_unigram_tokenizer

    tok = train_unigram_tokenizer(SENTENCES, 200, ["en", "de"], show_progress=False)
    config = MarianConfig(vocab_size=len(tok))
    assert model_family(config, tok) == "lingbridge"  # our tags win over the architecture
    (d,) = make_directions(_pairs("en-de"), config, tok)
    assert d.prefix == "<lang_de> "
    from datasets import Dataset

    ds = Dataset.from_dict({"src_lang": ["en"], "tgt_lang": ["de"], "src": ["Hello world"], "tgt": ["Hallo Welt"]})
    enc = tokenize_direction(ds, d, tok, 16, 16, decoder_start_token_id=tok.bos_token_id)[0]
    assert enc["input_ids"][:2] == [tok.bos_token_id, tok.convert_tokens_to_ids("<lang_de>")]
    # <s> is dropped from the labels: the model prepends it when shifting them right
    assert enc["labels"][0] != tok.bos_token_id and enc["labels"][-1] == tok.eos_token_id


def test_directions_default_both_ways_and_errors():
    pairs = {("en", "de"), ("en", "zh")}
    assert parse_directions(None, pairs) == [("en", "de"), ("de", "en"), ("en", "zh"), ("zh", "en")]
    assert parse_directions(["de-en", "en-zh"], pairs) == [("de", "en"), ("en", "zh")]
    with pytest.raises(UserError, match="not of the form src-tgt"):
        parse_directions(["ende"], pairs)
    with pytest.raises(UserError, match="no en/fr pairs"):
        parse_directions(["en-fr"], pairs)
    with pytest.raises(UserError, match="unknown language code 'xx'"):
        parse_directions(["en-xx"], pairs)


def test_orient_swaps_reversed_pairs():
    from datasets import Dataset

    ds = Dataset.from_dict({"src_lang": ["en", "en"], "tgt_lang": ["de", "fr"], "src": ["a", "b"], "tgt": ["A", "B"]})
    out = orient(ds, "de", "en")
    assert out.to_list() == [{"src_lang": "de", "tgt_lang": "en", "src": "A", "tgt": "a"}]


def test_bleu_tokenizers(monkeypatch):
    import builtins

    assert bleu_tokenizer("zh") == ("zh", None)
    assert bleu_tokenizer("de") == ("13a", None)
    assert bleu_tokenizer("th")[0] == "char"
    real_import = builtins.__import__

    def no_mecab(name, *args, **kwargs):
        if name in ("MeCab", "ipadic"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mecab)
    tok, note = bleu_tokenizer("ja")
    assert tok == "char" and "ja-mecab unavailable" in note


def test_metrics_match_sacrebleu_and_signatures():
    import sacrebleu

    hyps = ["我奶奶每个星期天烤面包。", "我喜欢喝茶。"]
    refs = ["我奶奶每个星期天早上都会烤新鲜的面包。", "我很喜欢喝绿茶。"]
    m = translation_metrics(hyps, refs, "zh")
    assert m["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs], tokenize="zh").score, abs=1e-4)
    assert m["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-4)
    assert "tok:zh" in m["bleu_signature"] and "nc:6" in m["chrf_signature"]
    # with 13a the same Chinese text scores differently: the tokenizer matters
    assert m["bleu"] != pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-4)
    rows = [{"direction": "en-zh", "tgt_lang": "zh", "hyp": h, "ref": r} for h, r in zip(hyps, refs)]
    rows += [{"direction": "zh-en", "tgt_lang": "en", "hyp": "I like tea.", "ref": "I really like green tea."}]
    table = metrics_table(rows)
    assert table["all"]["bleu"] == pytest.approx((table["en-zh"]["bleu"] + table["zh-en"]["bleu"]) / 2, abs=1e-3)
    assert table["all"]["n"] == 3


def test_nllb_checkpoint_finetunes_end_to_end_with_lora(spm_model, tmp_path):
    """A tiny NLLB-architecture checkpoint (M2M100 model + NLLB tokenizer, built offline) through the recipe:
    src_lang/tgt_lang per direction, forced BOS at generation, LoRA, label smoothing (which once left M2M100
    without decoder inputs), and a saved model that loads back."""
    from transformers import AutoModelForSeq2SeqLM, M2M100Config, NllbTokenizerFast

    from conftest import config
    from lingbridge.recipes import finetune_translation

    model_file, _ = spm_model
    tok = NllbTokenizerFast(vocab_file=str(model_file))
    ckpt = tmp_path / "nllb-tiny"
    cfg = M2M100Config(vocab_size=len(tok), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                       decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
                       pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id,
                       decoder_start_token_id=tok.eos_token_id)
    AutoModelForSeq2SeqLM.from_config(cfg).save_pretrained(ckpt)
    tok.save_pretrained(ckpt)
    out = tmp_path / "run"
    finetune_translation.main(["--config", config("finetune_translation"), "--model_name_or_path", str(ckpt),
                               "--use_lora", "true", "--label_smoothing_factor", "0.1", "--directions", "en-de", "de-en",
                               "--max_steps", "3", "--max_eval_samples", "4", "--generation_max_length", "8",
                               "--save_strategy", "no", "--disable_tqdm", "true", "--output_dir", str(out)])
    record = json.loads((out / "lingbridge_run.json").read_text())
    assert record["model_family"] == "nllb" and record["lora"]["target_modules"]
    dirs = {d["name"]: d for d in record["directions"]}
    assert (dirs["en-de"]["src_code"], dirs["en-de"]["tgt_code"]) == ("eng_Latn", "deu_Latn")
    assert dirs["de-en"]["forced_bos_token_id"] == tok.convert_tokens_to_ids("eng_Latn")
    rows = [json.loads(line) for line in (out / "translations.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and {r["direction"] for r in rows} == {"en-de", "de-en"}
    AutoModelForSeq2SeqLM.from_pretrained(out)
