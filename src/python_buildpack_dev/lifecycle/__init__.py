"""`local-lifecycle` (also `python -m python_buildpack_dev.lifecycle`): builds and runs an app on
this machine with one of the engines, `--engine reference|pack|emulated`.

`cli` parses the command, makes the local runtime mirror and hands the build or the run to the
chosen engine. The only module that imports every engine: they never import each other.
"""
