"""tap-adaptive: Adaptive Planning (Adaptive Insights) through its XML API."""
