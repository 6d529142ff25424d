"""Tokenizers: train a SentencePiece-style Unigram model with `tokenizers`, measure fertility."""

from __future__ import annotations

from collections.abc import Iterable

from .languages import NO_SPACE_LANGUAGES

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"]  # XLM-R's ids 0..3; <mask> is added last
MASK_TOKEN = "<mask>"


def language_tag(lang: str) -> str:
    """The special token that marks a language, e.g. `<lang_de>`."""
    return f"<lang_{lang}>"


def train_unigram_tokenizer(texts: Iterable[str], vocab_size: int = 8000, languages: list[str] = (),
                            model_max_length: int = 512, show_progress: bool = True):
    """Train a Unigram tokenizer (SentencePiece-style: NFKC, Metaspace) and wrap it for transformers.

    Args:
        texts: training sentences, already sampled across languages: a list, or an iterator read once
            (`lingbridge.data.streaming.sampled_texts` over a language-sampled stream, with a row budget).
        vocab_size: size of the vocabulary, special tokens included.
        languages: one `<lang_xx>` special token is added per language.
        model_max_length: longest sequence the model accepts (set explicitly: it defaults to a huge number).

    Returns:
        A `PreTrainedTokenizerFast` with XLM-R's special tokens and `<s> A </s></s> B </s>` pairs.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tags = [language_tag(lang) for lang in languages]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size - 1,  # <mask> goes last, as in XLM-R
        special_tokens=SPECIAL_TOKENS + tags,
        unk_token="<unk>",
        shrinking_factor=0.75,
        max_piece_length=16,
        show_progress=show_progress,
    )
    chars: set[str] = set()

    def read():
        # One pass over `texts` (a list or a stream): the distinct characters are kept only to
        # explain a too-small vocabulary; no copy of the corpus is held.
        for text in texts:
            chars.update(text)
            yield text

    try:
        tok.train_from_iterator(read(), trainer=trainer)
    except Exception as err:
        if "not large enough" not in str(err):
            raise
        from .errors import UserError

        chars = len(chars)
        raise UserError(f"vocab_size {vocab_size} cannot hold the corpus's {chars} distinct characters plus pieces; "
                        f"raise vocab_size (e.g. to {max(2 * chars, vocab_size * 2)})") from None
    tok = _canonical_vocab(tok)
    tok.add_special_tokens([MASK_TOKEN])
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token=MASK_TOKEN,
        additional_special_tokens=tags,
        model_max_length=model_max_length,
    )


def _canonical_vocab(tok, digits: int = 8):
    """The trained Unigram with its piece scores rounded to `digits` decimals, and equal scores in one order.

    The trainer sums and sorts in the iteration order of a Rust HashMap, which changes from run to run: from the
    same corpus, scores differed in the 15th digit (enough to flip a few segmentations) and pieces of equal
    score came in a different order (different ids), so two runs of one seeded, step-bound recipe trained
    different models from the first step. Rounded, then sorted by score and piece after the special tokens,
    the same corpus gives the same tokenizer (a difference of 1e-15 now changes a score only where it
    straddles a rounding boundary).
    """
    import json

    from tokenizers import Tokenizer

    state = json.loads(tok.to_str())
    vocab = [[piece, round(score, digits)] for piece, score in state["model"]["vocab"]]
    specials = {t["content"] for t in state["added_tokens"]}
    head = next((i for i, (piece, _) in enumerate(vocab) if piece not in specials), len(vocab))
    vocab = vocab[:head] + sorted(vocab[head:], key=lambda entry: (-entry[1], entry[0]))
    # the characters no kept piece covers come last, each 1e-4 below the one before down to a floor, in the
    # HashMap's order (which of them get which score, too): from the first such step on, the same characters
    # get the same scores, in code point order
    steps = [i for i in range(head, len(vocab) - 1) if len(vocab[i][0]) == len(vocab[i + 1][0]) == 1
             and abs(vocab[i][1] - vocab[i + 1][1] - 1e-4) < 1e-7]
    tail = steps[0] if steps else len(vocab)
    places = [i for i in range(tail, len(vocab)) if len(vocab[i][0]) == 1]
    for i, char in zip(places, sorted(vocab[i][0] for i in places)):
        vocab[i] = [char, vocab[i][1]]
    state["model"]["vocab"] = vocab
    return Tokenizer.from_str(json.dumps(state))


TRAINED_MAX_LENGTH = 512  # the position table of the built-in tiny/base configs (models.TINY_XLMR, BASE_XLMR)


def load_or_train_tokenizer(model_args, texts, languages: list[str] = (), max_length: int = 512,
                            share_dir=None, show_progress: bool = False):
    """The tokenizer a recipe uses: `tokenizer_name` or the checkpoint's, else a Unigram trained on `texts`.

    Args:
        model_args: `ModelArguments` (`tokenizer_name`, `model_name_or_path`, `vocab_size`, `trust_remote_code`).
        texts: training texts, or a function returning them (called only when a tokenizer is trained).
        languages: one `<lang_xx>` tag each in a trained tokenizer.
        max_length: `model_max_length` of a trained tokenizer.
        share_dir: train on the main process only, save there, and load it on the other ranks
            (default: every rank trains the same tokenizer from the same texts).

    Returns:
        (tokenizer, source): `source` is the folder or Hub id it came from, None when trained.
    """
    source = model_args.tokenizer_name or model_args.model_name_or_path
    # a trained tokenizer serves a built-in config, whose position table holds 512 tokens at most
    max_length = min(max_length, TRAINED_MAX_LENGTH)
    if source:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(source, trust_remote_code=model_args.trust_remote_code), source
    if share_dir is None:
        texts = texts() if callable(texts) else texts
        return train_unigram_tokenizer(texts, model_args.vocab_size, languages, max_length, show_progress), None
    from accelerate import PartialState
    from transformers import AutoTokenizer

    state = PartialState()
    with state.main_process_first():
        if not state.is_main_process:
            return AutoTokenizer.from_pretrained(share_dir), None
        texts = texts() if callable(texts) else texts
        tokenizer = train_unigram_tokenizer(texts, model_args.vocab_size, languages, max_length, show_progress)
        tokenizer.save_pretrained(share_dir)
    return tokenizer, None


def fertility(tokenizer, texts_by_lang: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Tokens per word and per character for each language (no special tokens).

    For languages written without spaces (zh, ja, th, ...) "words" are whitespace chunks, so
    tokens per character is the number to compare there.
    """
    out = {}
    for lang, texts in texts_by_lang.items():
        if not texts:
            continue
        ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        n_tok = sum(len(x) for x in ids)
        n_words = sum(len(t.split()) for t in texts)
        n_chars = sum(len(t) for t in texts)
        unk = tokenizer.unk_token_id
        n_unk = sum(x.count(unk) for x in ids) if unk is not None else 0
        out[lang] = {
            "tokens_per_word": round(n_tok / max(n_words, 1), 3),
            "tokens_per_char": round(n_tok / max(n_chars, 1), 3),
            "unk_rate": round(n_unk / max(n_tok, 1), 4),
            "primary": "tokens_per_char" if lang in NO_SPACE_LANGUAGES else "tokens_per_word",
            "sentences": len(texts),
        }
    return out
