"""Reciprocity's test suite."""
