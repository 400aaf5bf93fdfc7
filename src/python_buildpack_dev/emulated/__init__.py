"""The emulated engine: this package's own detect → restore → build → export (`builder`) and
launcher (`launcher`), for machines without Go and for fault injection.

It follows the platform spec where it matters to a buildpack: fresh plan files each run, layer
restore between builds of the same app (cached layers with contents, launch-only layers as
metadata, others dropped), `[types]` stripped from restored metadata, mtimes normalised on
export, and a launcher that applies launch layers' env files and exec.d output.
tests/e2e/test_engines.py checks it against the reference engine.

May import: `platform/` and the buildpack. Never another engine.
"""
