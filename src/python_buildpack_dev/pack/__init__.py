"""The pack engine: `pack build` with a stand-in builder on a Docker daemon, then `docker run`.

What users type, checked on this machine: `daemon` finds the Docker daemon `dev/docker` started
(or the machine's own), `stand_ins` makes the build and run images that stand in for the
Scalingo stacks (no image can be pulled here), `builders` assembles a builder from them, the
reference lifecycle built by dev/setup and the packaged buildpack, `engine` builds and runs
apps, and `commands` is `local-lifecycle build|run --engine pack`. Everything uses the host
network.

May import: `platform/`, `runtime_mirror/` (the stand-in images' interpreters) and the buildpack.
Never another engine.
"""
