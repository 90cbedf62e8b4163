"""What this project's Singer taps share: one HTTP and retry layer, parallel streams and
work, one way to fail clearly, and the one seam to singer-sdk's private API."""
