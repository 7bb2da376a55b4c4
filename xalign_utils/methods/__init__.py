"""Alignment methods, one module per survey family (parallel, contrastive, adapters, augmentation,
transforms, generative). Each method is a short function or class with its equation in the docstring."""
