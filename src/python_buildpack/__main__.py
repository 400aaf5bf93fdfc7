"""`python -m python_buildpack detect|build`: the entry points bin/detect and bin/build call.

Imports are deferred so detect never loads pydantic or httpx, and neither does a build that
replays the previous one (redeploy/).
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    phase = argv[1] if len(argv) > 1 else ""
    if phase == "detect":
        from .detect import main as detect_main

        return detect_main()
    if phase == "build":
        from . import redeploy

        if redeploy.replay():
            return 0
        from .build import main as build_main

        return build_main()
    print("usage: python -m python_buildpack detect|build", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
