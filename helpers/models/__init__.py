"""Model families reused across notebooks, one small module per family (each says which notebook
introduced it). Import from the module itself, e.g. ``from helpers.models.upscalers import Upscale2x``."""
