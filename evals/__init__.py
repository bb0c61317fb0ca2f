"""Evaluation of the assistant: datasets, retrieval benchmark (and, later, answer quality)."""
