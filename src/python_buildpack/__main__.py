"""`python -m python_buildpack build`: the entry point bin/build calls (detect is sh: lib/detect.sh).

Imports are deferred so that a build that replays the previous one (redeploy/) never loads
pydantic, httpx or the layer modules.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    phase = argv[1] if len(argv) > 1 else ""
    if phase == "build":
        from . import redeploy

        if redeploy.replay():
            return 0
        from .build import main as build_main

        return build_main()
    print("usage: python -m python_buildpack build", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
