"""Sentence retrieval (Tatoeba): accuracy@1 of finding each sentence's translation by cosine similarity
of mean-pooled token embeddings, with no training. A fast measure of how well an encoder aligns languages.

XTREME's protocol (google-research/xtreme, `third_party/evaluate_retrieval.py` and `scripts/run_tatoeba.sh`):
mean over every token the attention mask keeps (special tokens included) of ONE hidden layer, the 8th of a
12-layer model and the 14th of a 24-layer one (their `--specific_layer 7` / `13` index the layers after the
embeddings); each non-English sentence queries the English side; a hit is its own translation ranked first.

Used by the suite (`lingbridge evaluate --tasks tatoeba`) and at the end of every pretraining run
(`alignment_report`: the run's own held-out parallel pairs, and Tatoeba when its files are at hand).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import UserError

# ISO 639-1 → the three-letter codes of LASER's Tatoeba files
TATOEBA_CODES = {"ar": "ara", "zh": "cmn", "de": "deu", "fr": "fra", "it": "ita", "ja": "jpn", "ko": "kor",
                 "pt": "por", "ru": "rus", "es": "spa", "tr": "tur", "vi": "vie", "nl": "nld", "pl": "pol",
                 "fi": "fin", "hu": "hun", "et": "est", "he": "heb", "hi": "hin", "id": "ind", "th": "tha",
                 "el": "ell", "bg": "bul", "fa": "pes", "ka": "kat", "kk": "kaz", "sw": "swh", "ta": "tam",
                 "te": "tel", "ml": "mal", "mr": "mar", "ur": "urd", "bn": "ben", "af": "afr", "eu": "eus",
                 "jv": "jav", "tl": "tgl"}


def xtreme_layer(num_layers: int) -> int:
    """Index into `hidden_states` (0 = embeddings) of the layer XTREME pools: 8 of 12, 14 of 24, the last if shallower."""
    return min(num_layers, num_layers // 2 + 2)


def sentence_embeddings(model, tokenizer, texts: list[str], layer: int | str = "xtreme", batch_size: int = 64,
                        max_length: int = 128):
    """Mean-pooled hidden states of one layer, one row per text (float32 numpy).

    Args:
        model: a transformers encoder (`AutoModel`), or an encoder-decoder (its encoder is used).
        tokenizer: its tokenizer.
        layer: index into `hidden_states` (0 = embeddings, -1 = last), or "xtreme" for `xtreme_layer`.
        batch_size, max_length: batching and truncation (Tatoeba sentences are short).
    """
    import torch

    encoder = model.get_encoder() if getattr(model.config, "is_encoder_decoder", False) else model
    n_layers = model.config.num_hidden_layers if hasattr(model.config, "num_hidden_layers") else model.config.encoder_layers
    index = xtreme_layer(n_layers) if layer == "xtreme" else int(layer)
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    out = []
    # shortest first: less padding per batch; the original order is restored below
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_length,
                            return_tensors="pt")
            enc = {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
            hidden = encoder(**enc, output_hidden_states=True).hidden_states[index]
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).float().cpu().numpy())
    if was_training:
        encoder.train()
    emb = np.concatenate(out) if out else np.zeros((0, model.config.hidden_size), dtype=np.float32)
    restored = np.empty_like(emb)
    restored[order] = emb
    return restored


def retrieval_hits(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """For aligned rows (query i's answer is candidate i): 1.0 where the nearest candidate by cosine is its own."""
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    c = candidates / np.maximum(np.linalg.norm(candidates, axis=1, keepdims=True), 1e-12)
    best = (q @ c.T).argmax(axis=1)
    return (best == np.arange(len(q))).astype(np.float64)


def retrieval_accuracy_table(model, tokenizer, pairs: dict[str, tuple[list[str], list[str]]],
                             layer: int | str = "xtreme", batch_size: int = 64, max_length: int = 128,
                             return_hits: bool = False):
    """Tatoeba accuracy@1 (in %) per language (xx → en), with the macro average over languages as `all`.

    Args:
        pairs: `{lang: (sentences in lang, their English translations)}`, line-aligned
            (`lingbridge.suite.data.tatoeba_pairs`).
        return_hits: also return `{lang: per-query 0/1 array}` (for bootstrap intervals).

    Returns:
        `{lang: {"accuracy", "n"}, "all": {"accuracy", "n"}}` (and the hits when asked).
    """
    table, hits = {}, {}
    for lang, (xs, ens) in pairs.items():
        h = retrieval_hits(sentence_embeddings(model, tokenizer, xs, layer, batch_size, max_length),
                           sentence_embeddings(model, tokenizer, ens, layer, batch_size, max_length))
        hits[lang] = h
        table[lang] = {"accuracy": round(100 * float(h.mean()), 2) if len(h) else 0.0, "n": len(h)}
    if table:
        # XTREME averages languages, not sentences
        table["all"] = {"accuracy": round(float(np.mean([r["accuracy"] for r in table.values()])), 2),
                        "n": sum(r["n"] for r in table.values()), "average": "macro over languages"}
    return (table, hits) if return_hits else table


def evaluate_tatoeba(model, tokenizer, data_dir=None, languages: list[str] | None = None, max_pairs: int | None = 200,
                     layer: int | str = "xtreme") -> dict | None:
    """Tatoeba accuracy@1 per language for a model in memory (e.g. at the end of pretraining), or None without data.

    Args:
        model, tokenizer: the encoder being trained and its tokenizer.
        data_dir: folder holding `tatoeba-laser/` (default: `$LINGBRIDGE_DATASETS`); None and unset → None.
        languages: the languages to test (default: every language with pairs in the folder).
        max_pairs: pairs per language (200 takes seconds on a CPU for a tiny model; 1,000 is the full set).

    Returns:
        `{"per_language": table, "notes": [...], "layer": index}` with accuracies in %, or None.
    """
    import os

    data_dir = data_dir or os.environ.get("LINGBRIDGE_DATASETS")
    if not data_dir or not (Path(data_dir) / "tatoeba-laser").is_dir():
        return None
    pairs, notes = tatoeba_pairs(Path(data_dir), [x for x in languages or [] if x != "en"], max_pairs)
    if not pairs:
        return None
    n_layers = getattr(model.config, "num_hidden_layers", None) or model.config.encoder_layers
    return {"per_language": retrieval_accuracy_table(model, tokenizer, pairs, layer=layer), "notes": notes,
            "layer": xtreme_layer(n_layers) if layer == "xtreme" else layer}


def tatoeba_pairs(data_dir: Path | None, languages: list[str], max_pairs: int | None) -> tuple[dict, list[str]]:
    """`{lang: (sentences in lang, their English translations)}` from LASER's Tatoeba files."""
    if data_dir is None:
        raise UserError("Tatoeba needs --data_dir with LASER's files tatoeba-laser/tatoeba.<xxx>-eng.{<xxx>,eng} "
                        "(github.com/facebookresearch/LASER, data/tatoeba/v1)")
    folder = Path(data_dir) / "tatoeba-laser"
    codes = {v: k for k, v in TATOEBA_CODES.items()}
    languages = languages or sorted(codes[p.name.split(".")[1][:3]] for p in folder.glob("tatoeba.*-eng.eng")
                                    if p.name.split(".")[1][:3] in codes)
    pairs, notes, missing, cut = {}, [], [], []
    for lang in languages:
        code = TATOEBA_CODES.get(lang)
        src, eng = (folder / f"tatoeba.{code}-eng.{code}", folder / f"tatoeba.{code}-eng.eng") if code else (None, None)
        if not code or not src.is_file() or not eng.is_file():
            if lang != "en":
                missing.append(lang)
            continue
        xs = src.read_text(encoding="utf-8").rstrip("\n").split("\n")
        ys = eng.read_text(encoding="utf-8").rstrip("\n").split("\n")
        if len(xs) != len(ys):
            raise UserError(f"{src} has {len(xs)} lines but {eng.name} has {len(ys)}; they must be line-aligned")
        if max_pairs and max_pairs < len(xs):
            cut.append(lang)
            xs, ys = xs[:max_pairs], ys[:max_pairs]
        pairs[lang] = ([x.strip() for x in xs], [y.strip() for y in ys])
    if cut:
        notes.append(f"Tatoeba: the first {max_pairs} pairs of {', '.join(cut)} (of 1,000 in the release): fewer "
                     "candidates make retrieval easier, so compare runs at the same size")
    if missing:
        notes.append(f"Tatoeba has no pairs with English for {', '.join(missing)} (skipped)")
    return pairs, notes


def held_out_pairs(pairs, max_pairs: int | None = 200) -> dict[str, tuple[list[str], list[str]]]:
    """`{xx: (sentences in xx, their English translations)}` from parallel rows (`src_lang, src, tgt_lang, tgt`)
    with English on one side: the first `max_pairs` per language, each text once (duplicates would make two
    right answers)."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    seen: dict[str, set] = {}
    for row in pairs:
        if row["src_lang"] == "en" and row["tgt_lang"] != "en":
            lang, x, en = row["tgt_lang"], row["tgt"], row["src"]
        elif row["tgt_lang"] == "en" and row["src_lang"] != "en":
            lang, x, en = row["src_lang"], row["src"], row["tgt"]
        else:
            continue
        xs, ens = out.setdefault(lang, ([], []))
        if (max_pairs and len(xs) >= max_pairs) or x in seen.setdefault(lang, set()) or en in seen[lang]:
            continue
        seen[lang].update((x, en))
        xs.append(x)
        ens.append(en)
    return {lang: xy for lang, xy in sorted(out.items()) if xy[0]}


def alignment_report(model, tokenizer, pairs=None, languages: list[str] | None = None, max_pairs: int = 200,
                     max_length: int = 128) -> dict:
    """How well a pretrained encoder aligns languages, without training: retrieval accuracy@1 (xx → en, in %) on
    held-out parallel pairs (`pairs`, e.g. the TLM validation split) and on Tatoeba when its files are at hand
    (`$LINGBRIDGE_DATASETS/tatoeba-laser`). Either part is None when its data is missing."""
    held_out = held_out_pairs(pairs, max_pairs) if pairs is not None and len(pairs) else {}
    return {"parallel_validation": retrieval_accuracy_table(model, tokenizer, held_out, max_length=max_length)
            if held_out else None,
            "tatoeba": evaluate_tatoeba(model, tokenizer, languages=languages, max_pairs=max_pairs),
            "layer": xtreme_layer(model.config.num_hidden_layers) if hasattr(model.config, "num_hidden_layers") else None}


def log_alignment(report: dict) -> None:
    """The alignment report as a table in the log (accuracy@1 in %, xx → en)."""
    import logging

    parts = {"held-out pairs": report.get("parallel_validation"), "Tatoeba": (report.get("tatoeba") or {}).get("per_language")}
    parts = {name: table for name, table in parts.items() if table}
    if not parts:
        return
    langs = sorted({lang for table in parts.values() for lang in table if lang != "all"}) + ["all"]
    lines = ["| lang | " + " | ".join(parts) + " |", "|---|" + "---|" * len(parts)]
    for lang in langs:
        cells = [f"{t[lang]['accuracy']:.1f} ({t[lang]['n']})" if lang in t else "" for t in parts.values()]
        lines.append(f"| {lang} | " + " | ".join(cells) + " |")
    logging.getLogger("lingbridge").info("sentence retrieval xx → en, accuracy@1 %% (pairs), layer %s:\n%s",
                                         report.get("layer"), "\n".join(lines))
