"""The vision tasks: an image classifier (CNN) and image generators (GAN, VAE).

Their data, models and training loops live in `lingbridge.vision` (plain PyTorch under Accelerate);
these entries tell the app, the cards and publishing what such a run is.
"""

from __future__ import annotations

from . import Task, register


def usage(model: str, example=None, adapter: bool = False) -> str:
    # plain PyTorch modules saved as safetensors: no transformers pipeline; the lingbridge helper loads them
    return f'from lingbridge.vision import load_vision_run\n\nmodel = load_vision_run("{model}")'


IMAGE_CLASSIFICATION = register(Task(
    name="image_classification", pipeline_tag="image-classification", recipes=("train_cnn",), modality="image",
    headline_metrics=("accuracy", "f1"), usage=usage,
))
IMAGE_GENERATION = register(Task(
    name="image_generation", pipeline_tag="unconditional-image-generation", recipes=("train_gan", "train_vae"),
    modality="image", headline_metrics=("fid",), usage=usage,
))
