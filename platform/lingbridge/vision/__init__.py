"""Vision and generative modules: a small CNN classifier, a DCGAN and a VAE on image data, built on the
same configs, run directories and Accelerate as the NLP recipes (`recipes/train_cnn.py`,
`recipes/train_gan.py`, `recipes/train_vae.py`).

For the app and scripts::

    from lingbridge.vision import load_vision_run, classify_images, generate_images

    run = load_vision_run("runs/train_cnn-20261128-161800")
    probs = classify_images(run, [pil_image])          # (N, classes), columns = run.label_names
    gan = load_vision_run("runs/train_gan-20261128-162000")
    images = generate_images(gan, 16, label="3")        # (16, H, W) floats in [0, 1]
"""

from .api import VisionRun, classify_images, generate_images, load_vision_run, prepare_images

__all__ = ["VisionRun", "classify_images", "generate_images", "load_vision_run", "prepare_images"]
