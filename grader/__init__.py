"""Automated grader for the automatic-differentiation lesson (assignment 04)."""

__version__ = "0.1.0"
