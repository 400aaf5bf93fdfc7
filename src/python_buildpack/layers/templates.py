"""Files a layer receives verbatim: `layers_templates/` at the buildpack's root.

`layers_templates/exec.d/` holds the exec.d programs; `layers_templates/<layer>/` mirrors what
a layer gets as is (static env files). Kept as files rather than Python strings so that what
the image holds can be read, and diffed, where it lives.
"""

from __future__ import annotations

import shutil
from pathlib import Path

TEMPLATES = Path("layers_templates")


def copy_layer_files(buildpack_dir: Path, layer_name: str, layer_dir: Path) -> None:
    """Copies `layers_templates/<layer_name>/` into `layer_dir` (file modes kept, not times)."""
    shutil.copytree(buildpack_dir / TEMPLATES / layer_name, layer_dir, copy_function=shutil.copy, dirs_exist_ok=True)
