"""cjgrade: grading essays by comparative judgement with LLM judges."""

__version__ = "0.1.0"

__all__ = ["__version__"]
