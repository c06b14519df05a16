"""Helpers for testing affectlens and tools built on it (inputs made on the spot, never committed)."""
