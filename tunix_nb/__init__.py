"""tunix_nb: teach Gemma to show its work (<reasoning>…</reasoning><answer>…</answer>) by SFT,
on a Kaggle TPU (Tunix), a Kaggle T4 or a local GPU (PyTorch). `pipeline.run(cfg)` is the flow."""

__version__ = "0.1.0"
