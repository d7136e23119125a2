"""The demo: a support copilot (RAG + tools) with a deterministic stand-in model, instrumented with
genai_o11y.instrument, and scenario switches that inject the silent failures LLM apps suffer."""
