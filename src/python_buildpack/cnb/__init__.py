"""The Cloud Native Buildpacks contract (Buildpack API 0.10), with nothing Python-app specific.

`context` is stdlib-only so that detect stays light; everything else may use pydantic.
"""
