"""Shared pieces of this project's Singer taps."""
