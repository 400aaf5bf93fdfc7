"""The emulation against the reference lifecycle: the same scenario on both engines, compared.

A recording shell buildpack shows what each engine restores between builds, what reaches the
buildpack's environment, which layers end up where, and what a launched process sees. Then the
real buildpack builds one app on both engines and the layers, their metadata, the launch
environment and the processes are compared. Where they differ, the reference is right.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support.builds import AppBuild
from support.recorder import BUILD, DESCRIPTOR, DETECT

from python_buildpack.cnb import toml_io
from python_buildpack_dev.emulated.builder import Builder
from python_buildpack_dev.emulated.launcher import Launcher
from python_buildpack_dev.platform.build_image import grant_traverse
from python_buildpack_dev.platform.phases import BuildResult, ImageTarget
from python_buildpack_dev.platform.tools import ReferenceTools
from python_buildpack_dev.platform.workspace import Workspace
from python_buildpack_dev.reference.builder import ReferenceBuilder
from python_buildpack_dev.reference.launcher import ReferenceLauncher

TARGET = ImageTarget(distro_version="24.04", arch="amd64")
# What the recorder buildpack reports of its environment, besides the restore lines.
ENV_PROBE = """
for name in PIP_CERT SSL_CERT_FILE TMPDIR LANG CNB_STACK_ID CNB_TARGET_OS CNB_TARGET_ARCH MY_PATH_SETTING; do
  eval "value=\\${$name-unset}"; echo "env $name=$value"
done
echo "plan-file-exists-before: $([ -f "$CNB_BP_PLAN_PATH" ] && echo yes)"
case ":$PATH:" in *:/from-platform:*) echo "platform PATH prepended: $([ "${PATH%%:*}" = /from-platform ] && echo yes)";; esac
"""


@pytest.fixture(scope="module")
def tools() -> ReferenceTools:
    found = ReferenceTools.find()
    if found is None:
        pytest.skip("no reference lifecycle in .tools/bin (dev/setup builds it when Go is available)")
    return found


@pytest.fixture
def recorder(tmp_path: Path) -> Path:
    bp = tmp_path / "bp"
    (bp / "bin").mkdir(parents=True)
    (bp / "buildpack.toml").write_text(DESCRIPTOR)
    build = BUILD.replace('echo "platform-env:', ENV_PROBE + 'echo "platform-env:')
    for name, text in (("detect", DETECT), ("build", build)):
        (bp / "bin" / name).write_text(text)
        (bp / "bin" / name).chmod(0o755)
    grant_traverse(tmp_path, lambda _: None)
    return bp


def seen(result: BuildResult) -> list[str]:
    """What the buildpack printed about itself (engine log lines left out)."""
    assert result.build is not None, result.output
    keep = ("restored", "env ", "platform", "target", "plan-file")
    return [" ".join(line.split()) for line in result.build.output.splitlines() if line.startswith(keep)]


def layer_types(layers: Path) -> dict[str, object]:
    found: dict[str, object] = {}
    for path in sorted(layers.glob("*.toml")):
        if path.stem not in ("launch", "build", "store"):
            data = toml_io.load(path)
            found[path.stem] = (data.get("types", {}), data.get("metadata", {}))
    return found


def test_recorder_scenario_agrees(recorder: Path, tmp_path: Path, tools: ReferenceTools) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "marker").write_text("")
    platform_env = {"USER_SETTING": "from-platform", "PATH": "/from-platform", "MY_PATH_SETTING": "x"}
    emulated_ws, reference_ws = Workspace(tmp_path / "emulated"), Workspace(tmp_path / "reference")

    def emulated(**env: str) -> BuildResult:
        return Builder(recorder, emulated_ws, target=TARGET, platform_env=platform_env | env).build(app)

    def reference(**env: str) -> BuildResult:
        return ReferenceBuilder(tools, recorder, reference_ws, target=TARGET, platform_env=platform_env | env).build(app)

    for step, extra in (("first", {}), ("second", {}), ("failed", {"FAIL_BUILD": "1"}), ("after failure", {})):
        ours, theirs = emulated(**extra), reference(**extra)
        assert ours.ok == theirs.ok == (step != "failed"), theirs.output
        assert seen(ours) == seen(theirs), f"{step} build:\n{theirs.output}"
        if step == "after failure":  # the failed build left the cache as it was: build 2's data
            assert "restored-dir cached: 2" in seen(theirs)

    # the buildpack saw only what the lifecycle passes, and the platform's PATH first
    lines = seen(theirs)
    assert "env PIP_CERT=unset" in lines and "env TMPDIR=unset" in lines and "env LANG=unset" in lines
    assert "platform PATH prepended: yes" in lines

    # the same layers with the same types and metadata after the build
    assert layer_types(emulated_ws.buildpack_layers) == layer_types(reference_ws.layers / "test_recorder")

    # launch: same output of the default process, same environment
    ours_launch = Launcher(emulated_ws).popen(None, {}, stdout=subprocess.PIPE)
    theirs_launch = ReferenceLauncher(reference_ws).popen(None, {}, stdout=subprocess.PIPE)
    assert ours_launch.communicate(timeout=30)[0] == theirs_launch.communicate(timeout=30)[0] == b"hello from world exec.d ran\n"


def normalised_env(text: str, ws: Workspace) -> dict[str, str]:
    env = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    keep = {k: v.replace(str(ws.root), "<root>") for k, v in env.items()
            if k not in ("HOSTNAME", "HOME", "PWD", "SHLVL", "_", "OLDPWD")}
    keep["PATH"] = ":".join(p for p in keep["PATH"].split(":") if p.startswith("<root>"))
    return keep


def normalised(value: object, ws: Workspace) -> object:
    """Layer metadata with the workspace's root replaced, so that two workspaces compare."""
    return json.loads(json.dumps(value).replace(str(ws.root), "<root>"))


@pytest.mark.e2e
def test_python_app_agrees(make_app: Callable[..., AppBuild], make_reference_app: Callable[..., AppBuild]) -> None:
    """pip-flask on both engines: same layers, metadata, launch env and processes."""
    emulated = make_app("pip-flask", files={"Procfile": "web: gunicorn app:app --bind 0.0.0.0:$PORT\n"})
    reference = make_reference_app("pip-flask", files={"Procfile": "web: gunicorn app:app --bind 0.0.0.0:$PORT\n"})
    reference.platform_env = {k: v for k, v in reference.platform_env.items() if not k.endswith("_CACHE_DIR")}
    emulated.platform_env = {k: v for k, v in emulated.platform_env.items() if not k.endswith("_CACHE_DIR")}
    for app in (emulated, reference):
        result = app.build()
        assert result.ok, result.output

    ours = {k: normalised(v, emulated.workspace) for k, v in layer_types(emulated.layers).items()}
    theirs = {k: normalised(v, reference.workspace) for k, v in layer_types(reference.layers).items()}
    assert ours == theirs

    ours_env = normalised_env(emulated.run(["env"]).stdout, emulated.workspace)
    theirs_env = normalised_env(reference.run(["env"]).stdout, reference.workspace)
    assert "CNB_LAYERS_DIR" not in theirs_env and "CNB_APP_DIR" not in theirs_env
    assert {k: ours_env.get(k) for k in theirs_env} == theirs_env
    assert set(ours_env) - set(theirs_env) <= {"TMPDIR"}, set(ours_env) - set(theirs_env)

    processes = toml_io.load(emulated.workspace.launch_toml)["processes"]
    metadata = toml_io.load(reference.workspace.layers / "config" / "metadata.toml")["processes"]
    assert [(p["type"], p["command"], p.get("args", [])) for p in processes] == [
        (p["type"], p["command"], p.get("args", [])) for p in metadata
    ]
    # the exporter records the default process as the image's entrypoint
    (default,) = [p["type"] for p in processes if p.get("default")]
    assert ReferenceLauncher(reference.workspace).image().entrypoint == [f"/cnb/process/{default}"]
    assert re.search(r"gunicorn app:app", str(metadata))
    assert os.path.isdir(reference.workspace.layers / "scalingo_python" / "venv")


@pytest.mark.parametrize(
    ("replacement", "message"),
    [
        ("printf 'launch = true\\n[types]\\nlaunch = true\\n'", "should be in the types table"),
        ("printf '[types]\\nlaunch = \"yes\"\\n'", "destination has type boolean"),
    ],
    ids=["top-level-flag", "string-flag"],
)
def test_bad_layer_toml_fails_on_both(recorder: Path, tmp_path: Path, tools: ReferenceTools,
                                      replacement: str, message: str) -> None:
    build = recorder / "bin" / "build"
    build.write_text(build.read_text().replace("printf '[types]\\nlaunch = true\\n[metadata]\\nv = 1\\n'", replacement))
    app = tmp_path / "app"
    app.mkdir()
    (app / "marker").write_text("")
    ours = Builder(recorder, Workspace(tmp_path / "emulated"), target=TARGET).build(app)
    theirs = ReferenceBuilder(tools, recorder, Workspace(tmp_path / "reference"), target=TARGET).build(app)
    assert not ours.ok and not theirs.ok
    assert message in "\n".join(ours.problems)
    assert message in theirs.output, theirs.output
