"""Time of the runtime step of a warm rebuild with nothing changed (target: under 50 ms).

    .venv/bin/python benchmarks/runtime_step.py [--runs 20]

Runs the step in process, as bin/build does after interpreter start: load the catalogue,
read and resolve the app's version, decide on the cached `python` layer and rewrite its
metadata. The first (cold) install downloads the runtime from a loopback mirror made from
this interpreter; the warm runs reuse it. Also prints the interpreter start-up cost of
bin/build (importing the build module) for context.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from python_buildpack.caching.plan import CachePlan
from python_buildpack.cnb.context import BuildContext, CnbTarget
from python_buildpack.layers import python as python_layer
from python_buildpack.runtime.catalog import load_catalog
from python_buildpack.runtime.selection import resolve
from python_buildpack.runtime.version_files import read_requested_version
from python_buildpack.stacks.identify import resolve as resolve_stack
from python_buildpack.step_context import Context
from python_buildpack_dev.platform.phases import host_arch
from python_buildpack_dev.runtime_mirror.archives import file_sha256, make_runtime_archive
from python_buildpack_dev.runtime_mirror.catalog import write_catalog
from python_buildpack_dev.runtime_mirror.server import serve

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    version = platform.python_version()
    arch = host_arch()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        mirror = root / "mirror"
        cache = Path.home() / ".cache" / "python-buildpack" / "runtime-mirror" / "cache"
        archive = make_runtime_archive(Path(sys.base_prefix), mirror, version, "22.04", arch, cache_dir=cache)
        catalog = write_catalog(mirror / "catalog.toml", {"scalingo-22": {version.rsplit(".", 1)[0]: version}},
                                default=version.rsplit(".", 1)[0], artifacts={archive.name: file_sha256(archive)})
        app = root / "app"
        app.mkdir()
        (app / ".python-version").write_text(version.rsplit(".", 1)[0] + "\n")
        (root / "layers").mkdir()
        with serve(mirror) as url:
            env = {"BP_PYTHON_RUNTIME_BASE_URL": url, "BP_PYTHON_RUNTIME_CATALOG": str(catalog)}
            ctx = BuildContext(app_dir=app, buildpack_dir=ROOT, platform_dir=None,
                               target=CnbTarget(os="linux", arch=arch, distro_name="ubuntu", distro_version="22.04"),
                               stack_id="", settings=env, layers_dir=root / "layers",
                               buildpack_plan_path=root / "plan.toml")

            def step() -> float:
                start = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    stack = resolve_stack(ctx)
                    cat = load_catalog(ctx.settings)
                    requested, _ = read_requested_version(app, cat.default, pipenv=False)
                    resolved = resolve(requested, cat, stack.name)
                    step_ctx = Context(app, ctx.layers_dir, ROOT, ctx.settings)
                    python_layer.install(step_ctx, {}, stack, resolved.version, cat, CachePlan())
                return time.perf_counter() - start

            cold = step()
            warm = [step() for _ in range(args.runs)]
    startup = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(ROOT / 'src')!r}); "
                        "import python_buildpack.build"], check=True)
        startup.append(time.perf_counter() - start)
    print(f"runtime step, cold (download + extract + compile): {cold * 1000:8.1f} ms")
    print(f"runtime step, warm (nothing changed), median of {args.runs}: {statistics.median(warm) * 1000:8.1f} ms"
          f"  (min {min(warm) * 1000:.1f}, max {max(warm) * 1000:.1f}; target < 50 ms)")
    print(f"bin/build interpreter start + imports, median of 5:  {statistics.median(startup) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
