"""A private Python runtime mirror made from local interpreters, for local builds and tests.

The production download host is out of reach here, so `archives` packs an installed interpreter
prefix into the `.tar.zst` layout the real mirror serves, `catalog` writes a runtime catalogue
pinning them, and `server` serves the directory over loopback HTTP, with per-path fault
injection for the reliability tests.

May import: the buildpack (`python_buildpack`). Never an engine.
"""
