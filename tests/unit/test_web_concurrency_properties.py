"""Property tests of the WEB_CONCURRENCY arithmetic, on the real exec.d program."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from test_web_concurrency import MIB, TIB, Tree, expected

limits = st.integers(min_value=MIB, max_value=TIB)
examples = settings(max_examples=40, deadline=None)


def fresh_tree() -> tuple[tempfile.TemporaryDirectory[str], Tree]:
    tmp = tempfile.TemporaryDirectory()
    return tmp, Tree(Path(tmp.name))


@examples
@given(limit=limits, version=st.sampled_from(["v1", "v2"]))
def test_one_worker_per_256_mb(limit: int, version: str) -> None:
    tmp, tree = fresh_tree()
    with tmp:
        if version == "v2":
            tree.proc_lines("0::/app").v2("/app", str(limit)).v2("/", "max")
        else:
            tree.proc_lines("5:memory:/app").v1("/app", str(limit))
        result = tree.run()
    assert result.returncode == 0
    assert result.values == expected(limit // MIB)


@examples
@given(limits=st.lists(st.one_of(limits, st.just("max")), min_size=1, max_size=4))
def test_smallest_limit_on_the_path_wins(limits: list[int | str]) -> None:
    tmp, tree = fresh_tree()
    with tmp:
        path = ""
        parts = []
        for index, value in enumerate(limits):
            tree.v2(path or "/", str(value))
            parts.append(path)
            path = f"{path}/level{index}"
        leaf = parts[-1] or "/"
        tree.proc_lines(f"0::{leaf}")
        result = tree.run()
    numbers = [v for v in limits if isinstance(v, int)]
    assert result.returncode == 0
    assert result.values == (expected(min(numbers) // MIB) if numbers else {})


@examples
@given(limit=limits, user=st.text(alphabet="0123456789abc-", min_size=1, max_size=6))
def test_a_user_value_is_never_changed(limit: int, user: str) -> None:
    tmp, tree = fresh_tree()
    with tmp:
        tree.proc_lines("0::/").v2("/", str(limit))
        result = tree.run(WEB_CONCURRENCY=user)
    assert result.returncode == 0
    assert result.values == {}


@examples
@given(content=st.binary(max_size=64))
def test_garbage_never_fails_a_start(content: bytes) -> None:
    tmp, tree = fresh_tree()
    with tmp:
        tree.proc_lines("0::/").v2("/", content)
        result = tree.run()
    assert result.returncode == 0
    # Either nothing, or the value its digits mean: never a made-up number.
    if result.values:
        first_line = content.split(b"\n", 1)[0].decode("ascii")
        assert result.values == expected(int(first_line) // MIB)
