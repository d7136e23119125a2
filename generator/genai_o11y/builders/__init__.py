"""Builders: pure functions, spec in, config data (dicts) out."""
