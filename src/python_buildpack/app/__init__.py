"""What the app declares and does at build time, apart from its dependencies and Python version.

Its source checked before anything is installed (`source_checks`: committed venvs, misspelled
version files), the build environment it is given (`env_checks`: variables that move installed
packages elsewhere), its `Procfile` (`procfile`), its `bin/pre_compile` and `bin/post_compile`
hooks (`hooks`), Django's `collectstatic` (`django`) and the digests of the files a venv depends
on (`digests`, a leaf).

May import: `errors`, `output`, `process`, `step_context`, `cnb/`, `files/`. Never the runtime,
the layers, the package managers or the build above them.
"""
