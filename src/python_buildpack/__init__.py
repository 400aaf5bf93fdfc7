"""A Cloud Native Buildpack for Python web apps (Buildpack API 0.10)."""

BUILDPACK_ID = "scalingo/python"
