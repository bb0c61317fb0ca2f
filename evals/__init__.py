"""Evaluation of the assistant: datasets, retrieval and answer benchmarks, the ragas suite (`assistant eval`)."""
