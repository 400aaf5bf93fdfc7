"""The golden-log normaliser: what varies from run to run becomes a placeholder, nothing else."""

from __future__ import annotations

from support.golden import normalise


def test_poetry_operations_printed_in_completion_order_compare_equal() -> None:
    one = "     Package operations: 3 installs\n\n       - Installing b (1.0)\n       - Installing a (2.0)\n\n     done (1.2s)\n"
    two = "     Package operations: 3 installs\n\n       - Installing a (2.0)\n       - Installing b (1.0)\n\n     done (0.4s)\n"
    assert normalise(one) == normalise(two)
    assert normalise(one).splitlines()[2:4] == ["       - Installing a (2.0)", "       - Installing b (1.0)"]


def test_lines_around_a_run_keep_their_order() -> None:
    text = "z first\n  - Installing b (1)\n  - Installing a (1)\ny between\n  - Installing d (1)\n  - Installing c (1)\nx last"
    assert normalise(text).splitlines() == [
        "z first",
        "  - Installing a (1)",
        "  - Installing b (1)",
        "y between",
        "  - Installing c (1)",
        "  - Installing d (1)",
        "x last",
    ]


def test_pip_versions_of_unpinned_requirements_become_placeholders() -> None:
    line = (
        "     Downloading flask-3.1.3-py3-none-any.whl (103 kB)\n     Successfully installed flask-3.1.3 click-8.5.1\n"
    )
    assert (
        normalise(line)
        == "     Downloading flask-<v>-<tags>.whl (<size>)\n     Successfully installed flask-<v> click-<v>\n"
    )


def test_what_a_tools_own_pruning_removed_becomes_placeholders() -> None:
    line = "   - Pruned cached uv downloads (275 files, 3.4MiB; `uv cache prune --ci`) since a later download"
    assert normalise(line) == "   - Pruned cached uv downloads (<n> files, <size>; `uv cache prune --ci`) since a later download"
    assert normalise(line.replace("275 files", "1 file")) == normalise(line)
