"""Published cross-lingual results to show beside a run of the suite.

Only numbers checked against their source are listed. They are the papers' cross-language
averages under XTREME's protocol (finetune on the full English training set, zero-shot on every
test language), over MORE languages than the suite's offline data covers (PAWS-X: the same 7,
XQuAD: 11 against our 8, Tatoeba: 36 against our 12) and, for PAWS-X, on the official test split,
so they are a yardstick, not a like-for-like comparison: the table says so beside them.

Sources:
- Hu et al., 2020. "XTREME: A Massively Multilingual Multi-task Benchmark for Evaluating
  Cross-lingual Generalization". ICML 2020, arXiv:2003.11080. Table 2 (overall results of the
  baselines, averaged over each task's languages). The same figures are reproduced in the mT5
  repository README (google-research/multilingual-t5, "Results" table: PAWS-X and XQuAD F1 of
  both models) and in a summary of the VECO paper's comparison table (XLM-R row: XQuAD F1/EM,
  Tatoeba), against which each number here was checked. mBERT's XQuAD EM and Tatoeba accuracy
  could not be checked against a second copy, so they are left out.
- Conneau et al., 2020. "Unsupervised Cross-lingual Representation Learning at Scale" (XLM-R).
  ACL 2020. It reports XNLI, NER and MLQA, not PAWS-X, XQuAD or Tatoeba: there is no published
  XLM-R *base* figure for these three tasks in either paper, so none is shown for
  `xlm-roberta-base` (a base model is compared with the large one's figures only by name, never
  silently).

XTREME's "XLM-R" baseline is `xlm-roberta-large`.
"""

from __future__ import annotations

XTREME = ("Hu et al., 2020, XTREME (ICML 2020, arXiv:2003.11080), Table 2: average over the task's "
          "languages, zero-shot from English")

# model id → task → metric → value (the papers' 0–100 scale).
REFERENCES: dict[str, dict[str, dict[str, float]]] = {
    "bert-base-multilingual-cased": {
        "pawsx": {"accuracy": 81.9},
        "xquad": {"f1": 64.5},
    },
    "xlm-roberta-large": {
        "pawsx": {"accuracy": 86.4},
        "xquad": {"f1": 76.6, "exact_match": 60.8},
        "tatoeba": {"accuracy": 57.3},
    },
}
LANGUAGES_IN_SOURCE = {"pawsx": 7, "xquad": 11, "tatoeba": 36}
NAMES = {"bert-base-multilingual-cased": "mBERT", "xlm-roberta-large": "XLM-R large",
         "xlm-roberta-base": "XLM-R base"}
NOT_PUBLISHED = {
    "xlm-roberta-base": "XTREME (Table 2) evaluates XLM-R large only and the XLM-R paper reports no PAWS-X, XQuAD or "
                        "Tatoeba figure, so no published XLM-R base number is shown.",
}


def model_key(model_id: str | None) -> str | None:
    """The reference key for a model id: `FacebookAI/xlm-roberta-large` and `xlm-roberta-large` both match."""
    if not model_id:
        return None
    name = str(model_id).rstrip("/").split("/")[-1].lower()
    return name if name in REFERENCES or name in NOT_PUBLISHED else None


def references_for(task: str) -> list[dict]:
    """Every published row for `task`, for the table beside a user's own run."""
    rows = []
    for model, tasks in REFERENCES.items():
        if task in tasks:
            rows.append({"model": model, "name": NAMES.get(model, model), **tasks[task], "source": XTREME,
                         "languages_in_source": LANGUAGES_IN_SOURCE[task]})
    return rows
