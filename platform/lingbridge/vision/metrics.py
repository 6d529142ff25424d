"""Quality numbers for the vision runs: per-class report, Fréchet distance, confident share, ROC-AUC."""

from __future__ import annotations

import numpy as np


def per_class_report(preds, labels, label_names: list[str]) -> dict[str, dict]:
    """Precision, recall, F1 and support per class, plus a macro `all` row with accuracy (scikit-learn)."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    ids = list(range(len(label_names)))
    p, r, f, n = precision_recall_fscore_support(labels, preds, labels=ids, zero_division=0)
    table = {name: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4), "f1": round(float(f[i]), 4),
                    "n": int(n[i])} for i, name in enumerate(label_names)}
    mp, mr, mf, _ = precision_recall_fscore_support(labels, preds, labels=ids, average="macro", zero_division=0)
    table["all"] = {"accuracy": round(float(accuracy_score(labels, preds)), 4), "precision": round(float(mp), 4),
                    "recall": round(float(mr), 4), "f1": round(float(mf), 4), "n": int(len(labels))}
    return table


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """‖μa − μb‖² + Tr(Σa + Σb − 2(ΣaΣb)^½) between two feature sets (rows are samples), as in FID."""
    from scipy import linalg

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    import warnings

    with warnings.catch_warnings():
        # dead ReLU units make the covariances singular; the square root is still accurate enough to compare runs
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():  # nearly singular product: regularise as the FID reference code does
        eps = np.eye(len(cov_a)) * 1e-6
        covmean = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    covmean = covmean.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean))


def confident_share(probs, threshold: float = 0.9) -> float:
    """Share of samples whose top class probability exceeds `threshold`."""
    probs = np.asarray(probs)
    return float((probs.max(1) > threshold).mean())


def roc_auc(scores, is_positive) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(is_positive, dtype=int), np.asarray(scores)))
