"""What the build keeps for the next one, chosen per app from what it declares.

The lifecycle restores the files of every cached layer at the start of a build and reads and
hashes them again at its end, whether or not the build uses them; a launch layer that is not
cached comes back as metadata only, and kept so, the exporter reuses the previous image's
layer without reading it. So the cache holds only what a later build reads, in the fewest
files (caching/packed.py):

- The `python` runtime and the `venv` are launch layers only, never cached as such: a build
  has their files only when one of its steps runs Python (caching/on_demand.py).
- The venv's packed copy is always cached: a dependency change updates it in place, exactly,
  from there (a few MB in one file).
- The runtime's packed copy (its archive) and the installer's are cached for apps whose builds
  run Python at every redeploy: bin/post_compile, Django's collectstatic (manage.py), nltk.txt,
  a later buildpack that requires python. For the others a redeploy with nothing changed reads
  neither; the trade-off is that a dependency change downloads the runtime and the installer
  again (while the one waits for the other).
- When a later buildpack requires python, the runtime and the venv are build layers too, and
  their files stay for it.
- A step whose recorded output this build puts back instead (collectstatic with nothing it
  reads changed: layers/static_files.py) is `replayed`: it needs no files now, but its packed
  copies stay, for the build that changes what it reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from ..cnb import toml_io
from ..cnb.models import BuildpackPlan, LayerTypes

# Values of DISABLE_COLLECTSTATIC that do not disable it (as app/django.py reads it).
_NOT_DISABLED = {"", "0", "false", "no", "off"}


COLLECTSTATIC = "collectstatic runs"


@dataclass(frozen=True)
class CachePlan:
    # The steps of every build that run the app's Python, hence need the runtime and the venv.
    runs_python: tuple[str, ...] = ()
    later_buildpack: bool = False  # a later buildpack of the group requires python
    # Of those, the steps this build replays from the cache instead (layers/static_files.py).
    replayed: tuple[str, ...] = ()

    @property
    def runs_python_now(self) -> tuple[str, ...]:
        """The steps that run Python in this build: the runtime's and the venv's files are needed."""
        return tuple(step for step in self.runs_python if step not in self.replayed)

    def replaying(self, step: str) -> CachePlan:
        return replace(self, replayed=(*self.replayed, step))

    @property
    def packed_runtime(self) -> bool:
        """Whether the runtime's and the installer's packed copies are cached."""
        return bool(self.runs_python)

    @property
    def launch_types(self) -> LayerTypes:
        """The runtime's and the venv's types. Never cached: a cached launch layer is restored
        file by file. `build` for a later buildpack, which gets their bin/ on its PATH."""
        return LayerTypes(launch=True, build=self.later_buildpack)

    def describe(self, installer: str) -> str:
        if self.packed_runtime:
            return (f"Caching packed copies of Python, the installer and the dependencies: "
                    f"{', '.join(self.runs_python)} at every build")
        if installer == "pip":  # pip's layer is one file, cached whatever the plan (layers/tools.py)
            return ("Caching a packed copy of the dependencies and pip only: no step of a redeploy runs "
                    "Python, so a dependency change downloads Python again")
        return ("Caching a packed copy of the dependencies only: no step of a redeploy runs Python, so a "
                f"dependency change downloads Python and {installer} again")


def decide(app_dir: Path, settings: Mapping[str, str], nltk_txt: bool, later_buildpack: bool) -> CachePlan:
    """The plan for an app, from its files and settings (read before anything is installed)."""
    steps = []
    if (app_dir / "bin" / "post_compile").exists():
        steps.append("bin/post_compile runs")
    if (app_dir / "manage.py").is_file():
        if settings.get("DISABLE_COLLECTSTATIC", "").strip().lower() in _NOT_DISABLED:
            steps.append(COLLECTSTATIC)
        elif not (app_dir / "Procfile").exists():
            steps.append("the default process depends on the installed gunicorn")
    if nltk_txt:
        steps.append("nltk.txt is read")
    if later_buildpack:
        steps.append("a later buildpack requires python")
    return CachePlan(tuple(steps), later_buildpack)


def later_buildpack_requires_python(plan_path: Path) -> bool:
    """Whether another buildpack of the group requires `python`: the buildpack plan then has an
    entry for it besides this buildpack's own."""
    try:
        plan = BuildpackPlan.model_validate(toml_io.load(plan_path))
    except (OSError, ValueError, toml_io.TOMLDecodeError):
        return False
    return sum(entry.name == "python" for entry in plan.entries) > 1
