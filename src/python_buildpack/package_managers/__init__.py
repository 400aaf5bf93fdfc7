"""Package managers: which one an app uses, and how each installs into the app's venv.

`choice` picks the manager from the files at the app root; `pip`, `pipenv`, `poetry` and
`uv` each describe their inputs (the files the venv depends on), command, environment and
how to explain a failure; `versions` pins the tool versions. `python_buildpack.dependencies`
puts them together with the tool, download-cache and venv layers.
"""
