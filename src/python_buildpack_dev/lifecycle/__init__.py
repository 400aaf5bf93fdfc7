"""A local CNB lifecycle: detect → build → export → launch of this buildpack, without Docker.

It follows the platform spec where it matters to a buildpack: fresh plan files each run,
layer restore between builds of the same app (cached layers with contents, launch-only layers
as metadata, others dropped), `[types]` stripped from restored metadata, mtimes normalised on
export, and a launcher that applies launch layers' env files and exec.d output.
"""
