"""PixelTransformer core: one model, one objective, one sampler for every signal domain."""
__version__ = "0.1.0"
