"""One module per layer this buildpack writes, each `install(ctx, env, ...) -> value`.

Besides the layers: `sbom` (the SBOMs of the `python` and `venv` layers), `templates` (files
copied verbatim from `layers_templates/`) and `tool_wheels` (the tools' wheels fetched while
the runtime installs). What a layer keeps for the next build is decided in `caching/`.

May import: everything below it (`cnb/`, `caching/`, `runtime/`, `stacks/`, `app/`, `files/`,
the leaves). Never the package managers, the project or the build.
"""
