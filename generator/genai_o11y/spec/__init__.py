"""The spec: model, loading and the embedded default."""

from .load import DEFAULT_SOURCE, default_text, load, parse
from .model import Spec

__all__ = ["DEFAULT_SOURCE", "Spec", "default_text", "load", "parse"]
