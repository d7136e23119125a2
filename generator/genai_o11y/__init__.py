"""genai-o11y: observability for LLM applications, generated from one spec."""

__version__ = "0.1.0"
