"""lingbridge: multilingual NLP on the Hugging Face stack.

Importing the package is cheap on purpose: heavy libraries (torch, transformers, peft, gradio)
are imported by the modules that need them, so `lingbridge --help` stays fast.
"""

__version__ = "0.1.0"
