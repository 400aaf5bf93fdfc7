"""Development tools, never shipped: the local lifecycle (reference and emulated engines, the
runtime mirror) and the packager that makes the buildpack artifact. They import the buildpack
(`python_buildpack`); the buildpack never imports them."""
