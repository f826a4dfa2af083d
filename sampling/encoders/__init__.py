"""Bimodal encoders loaded offline from local checkpoint folders (see families.py)."""

from .checkpoint import EncoderError, fingerprint
from .decode import MediaDecodeError
from .families import CLASSES, FAMILIES, Encoder, load_encoder

__all__ = ["CLASSES", "FAMILIES", "Encoder", "EncoderError", "MediaDecodeError", "fingerprint", "load_encoder"]
