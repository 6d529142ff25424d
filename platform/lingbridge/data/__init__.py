"""Data stages: load (Hub, local files, bundled sample) → clean → sample → augment."""

from .clean import clean_splits
from .load import load_splits
from .bundled import load_sample, sample_languages
from .sampling import language_sampling_probs, sample_by_language

__all__ = [
    "clean_splits", "load_splits", "load_sample", "sample_languages",
    "language_sampling_probs", "sample_by_language",
]
