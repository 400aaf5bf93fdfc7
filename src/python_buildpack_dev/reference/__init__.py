"""The reference engine: the real CNB lifecycle's phases (`builder`) and the image's own launcher
(`launcher`), run on this machine as a platform does, images in an OCI layout directory.

May import: `platform/` and the buildpack. Never another engine.
"""
