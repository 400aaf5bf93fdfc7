"""`python -m python_buildpack_dev.package`: see the package docstring and docs/distribution.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from python_buildpack import output
from python_buildpack.errors import BuildError

from .artifact import build_artifact, buildpack_version
from .lock import update_lock
from .targets import DEFAULT_PYTHONS, MACHINES

REPO = Path(__file__).resolve().parents[3]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m python_buildpack_dev.package",
        description="Makes the directory (and .tgz) that `pack buildpack package --config package.toml` takes.",
    )
    parser.add_argument("--source", type=Path, default=REPO, help="buildpack repository (default: %(default)s)")
    parser.add_argument("--output", type=Path, help="artifact directory (default: <source>/dist/scalingo-python)")
    parser.add_argument("--tgz", nargs="?", const="", metavar="FILE",
                        help="also write a .tgz (default name: <output>-<version>.tgz)")
    parser.add_argument("--python", action="append", metavar="X.Y",
                        help=f"CPython version to vendor for (default: {', '.join(DEFAULT_PYTHONS)})")
    parser.add_argument("--machine", action="append", choices=MACHINES,
                        help="machine to vendor for (default: both)")
    parser.add_argument("--compile-with", action="append", type=Path, default=[], metavar="PYTHON",
                        help="ship byte-code compiled by this interpreter (one per vendored version)")
    parser.add_argument("--update-lock", action="store_true",
                        help="re-resolve pyproject.toml's dependencies into vendor-lock.txt with uv, then exit")
    parser.add_argument("--upgrade", action="store_true",
                        help="with --update-lock: newest versions, not the pinned ones")
    args = parser.parse_args(argv)
    source: Path = args.source.resolve()
    try:
        if args.update_lock:
            update_lock(source, upgrade=args.upgrade)
            print("vendor-lock.txt updated")
            return 0
        out: Path = args.output or source / "dist" / "scalingo-python"
        tgz = None
        if args.tgz is not None:
            tgz = Path(args.tgz) if args.tgz else out.with_name(f"{out.name}-{buildpack_version(source)}.tgz")
        report = build_artifact(
            source,
            out,
            pythons=tuple(args.python or DEFAULT_PYTHONS),
            machines=tuple(args.machine or MACHINES),
            compile_with=args.compile_with,
            tgz=tgz,
        )
    except BuildError as error:
        if error.output:
            output.raw(error.output)
        output.error(error.title, error.details)
        return 1
    print(f"\nArtifact: {report.output} ({_mb(report.total)})")
    for name, size in report.sizes.items():
        print(f"  {name:<24} {_mb(size):>9}")
    if report.compiled_for:
        print(f"Byte-code for Python {', '.join(report.compiled_for)}")
    if report.tgz is not None:
        print(f"Tarball: {report.tgz} ({_mb(report.tgz.stat().st_size)})")
    print(f"Next: pack buildpack package <image> --config {report.output / 'package.toml'}")
    return 0


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


if __name__ == "__main__":
    sys.exit(main())
