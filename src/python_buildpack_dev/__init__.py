"""Development tools, never shipped: the `local-lifecycle` command (`lifecycle/`) and its three
engines (`emulated/`, `reference/`, `pack/`) on what they share (`platform/`), the runtime mirror
(`runtime_mirror/`) and the packager that makes the buildpack artifact (`package/`). They import
the buildpack (`python_buildpack`); the buildpack never imports them."""
