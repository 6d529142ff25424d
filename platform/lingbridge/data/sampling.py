"""XLM-R language sampling: q_i ∝ p_i^α, so low-resource languages are seen more often."""

from __future__ import annotations

import numpy as np


def language_sampling_probs(counts: dict[str, int], alpha: float = 0.3) -> dict[str, float]:
    """Exponentially smoothed sampling probabilities (Conneau et al., 2020, eq. 1).

    With p_i = n_i / Σn, q_i = p_i^α / Σ p_j^α. α=1 keeps the natural distribution, α→0 is uniform.
    """
    langs = [k for k, v in counts.items() if v > 0]
    p = np.array([counts[k] for k in langs], dtype=np.float64)
    p /= p.sum()
    q = p**alpha
    q /= q.sum()
    return {k: float(v) for k, v in zip(langs, q)}


def sample_by_language(dataset, alpha: float = 0.3, lang_column: str = "lang", num_rows: int | None = None,
                       seed: int = 0):
    """Resample a dataset so that each language's share follows `language_sampling_probs`.

    Languages above their share are subsampled and those below are upsampled (with repetition);
    the total stays `num_rows` (default: the dataset size). Returns the dataset and the
    per-language `{"rows": n_i, "p": p_i, "q": q_i, "sampled": k_i}`.
    """
    langs = np.asarray(dataset[lang_column])
    uniq, counts = np.unique(langs, return_counts=True)
    count_map = dict(zip(uniq.tolist(), counts.tolist()))
    q = language_sampling_probs(count_map, alpha)
    total = num_rows or len(dataset)
    rng = np.random.default_rng(seed)
    indices, report = [], {}
    for lang in sorted(count_map):
        pool = np.flatnonzero(langs == lang)
        k = max(1, round(q[lang] * total))
        take = rng.choice(pool, size=k, replace=k > len(pool))
        indices.append(take)
        report[lang] = {"rows": count_map[lang], "p": count_map[lang] / len(langs), "q": q[lang], "sampled": int(k)}
    order = np.concatenate(indices)
    rng.shuffle(order)
    return dataset.select(order.tolist()), report
