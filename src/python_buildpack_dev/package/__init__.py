"""Packaging: the directory (and .tgz) that `pack buildpack package --config package.toml` takes.

    python -m python_buildpack_dev.package [--output DIR] [--tgz [FILE]] [--compile-with PYTHON ...]

The artifact holds the buildpack's run-time files only (bin/, lib/, src/, layers_templates/,
buildpack.toml, a package.toml with `uri = "."`) plus `vendor/`: the buildpack's own Python
dependencies, pinned by `vendor-lock.txt`, pure-Python ones once (`vendor/common`) and compiled
ones per CPython version and machine (`vendor/cp312-x86_64`, ...). docs/distribution.md
explains how `lib/run-phase.sh` picks an interpreter for them. Not shipped in the artifact.
"""
