"""The package version, on the ground floor so that every layer can record it (a space
stamps the version that created it) without importing the package root."""

__version__ = "0.1.0"
