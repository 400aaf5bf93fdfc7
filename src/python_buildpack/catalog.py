"""`python -m python_buildpack.catalog pin ...`: the former name of the pin command, still
accepted (docs/distribution.md, "Runtime integrity"); the command is `runtime/pin.py`."""

from __future__ import annotations

import sys

from .runtime.pin import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], alias=True))
