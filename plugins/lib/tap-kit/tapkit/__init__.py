"""Shared pieces of this project's Singer taps: retry timing, parallel streams."""
