"""The pack engine's pieces that need no daemon: image names, pack and docker command lines, the
builder configuration, the lifecycle archive, the daemon's discovery and dev/docker's refusal."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from python_buildpack.cnb import toml_io
from python_buildpack_dev.pack import daemon
from python_buildpack_dev.pack.builders import builder_config, lifecycle_archive
from python_buildpack_dev.pack.commands import MIRROR_MOUNT, mirror_env
from python_buildpack_dev.pack.engine import HARDENED, PackBuild, RunOptions, app_image_name
from python_buildpack_dev.pack.stand_ins import Variant, build_image_name, image_python, run_image_name
from python_buildpack_dev.platform.tools import ReferenceTools

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["App", "My App", "Ünïcode_app", "...", "x" * 200])
def test_app_image_names_are_valid_references_whatever_the_directory(tmp_path: Path, name: str) -> None:
    image = app_image_name(tmp_path / name)
    repository = image.split("/", 1)[1]
    assert image == image.lower()
    assert all(c.isalnum() or c in "-/" for c in image.replace("scalingo-python-dev", "")), image
    assert repository.startswith("app-") and not repository.endswith("-")
    assert app_image_name(tmp_path / name) == image  # stable: redeploys find their previous image
    assert app_image_name(tmp_path / "other" / name) != image


def test_pack_build_command_line(tmp_path: Path) -> None:
    build = PackBuild(daemon.Docker("unix:///x.sock"), Path("/bin/pack"), "b:1", "img/app",
                      platform_env={"A": "1"}, volumes={tmp_path: "/m"})
    argv = build.argv(tmp_path / "app")
    assert argv[:3] == ["/bin/pack", "build", "img/app"]
    for flag in (["--network", "host"], ["--pull-policy", "never"], ["--docker-host", "inherit"],
                 ["--env", "A=1"], ["--volume", f"{tmp_path}:/m:ro"], ["--builder", "b:1"]):
        assert any(argv[i:i + len(flag)] == flag for i in range(len(argv))), flag
    assert "--trust-builder" in argv and "--publish" not in argv and "--clear-cache" not in argv
    assert f"name={build.cache_volumes[0]}" in " ".join(argv)
    published = PackBuild(build.docker, build.pack, "b:1", "localhost:5000/app", publish=True,
                          cache_image="localhost:5000/app-cache", trust_builder=False, lifecycle_image="lc:1")
    argv = published.argv(tmp_path, clear_cache=True)
    assert "--cache" not in argv and "--trust-builder" not in argv
    assert {"--publish", "--clear-cache"} <= set(argv)
    assert argv[argv.index("--cache-image") + 1] == "localhost:5000/app-cache"
    assert argv[argv.index("--lifecycle-image") + 1] == "lc:1"


def test_docker_run_options() -> None:
    assert RunOptions().argv() == ["--network", "host"]
    argv = RunOptions(memory="512m", user=HARDENED.user, read_only=True, cap_drop_all=True,
                      no_new_privileges=True, env={"PORT": "1"}).argv()
    assert argv == ["--network", "host", "--memory", "512m", "--user", "4321:0", "--read-only", "--tmpfs", "/tmp",
                    "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--env", "PORT=1"]


def test_mirror_env_mounts_the_catalogue(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text("")
    env, volumes = mirror_env({"BP_PYTHON_RUNTIME_CATALOG": str(catalog), "OTHER": "x"})
    assert env == {"BP_PYTHON_RUNTIME_CATALOG": f"{MIRROR_MOUNT}/catalog.toml", "OTHER": "x"}
    assert volumes == {tmp_path: MIRROR_MOUNT}
    assert mirror_env({"OTHER": "x"}) == ({"OTHER": "x"}, {})


def test_image_names_and_pythons_of_the_variants() -> None:
    assert run_image_name("scalingo-22") == "scalingo-python-dev/run:scalingo-22"
    assert build_image_name("scalingo-24") == "scalingo-python-dev/build:scalingo-24"
    assert build_image_name("scalingo-22", Variant.NO_PYTHON) == "scalingo-python-dev/build:scalingo-22-no-python"
    assert image_python("scalingo-22", Variant.SUPPORTED) == "3.10"
    assert image_python("scalingo-24", Variant.SUPPORTED) == "3.12"
    assert image_python("scalingo-24", Variant.UNSUPPORTED_PYTHON) == "3.8"
    assert image_python("scalingo-24", Variant.NO_PYTHON) is None


def test_builder_config_groups_the_buildpack_first(tmp_path: Path) -> None:
    later = tmp_path / "later"
    later.mkdir()
    (later / "buildpack.toml").write_text('api = "0.10"\n[buildpack]\nid = "t/later"\nversion = "1.2.3"\n')
    config = builder_config(REPO, "b", "r", tmp_path / "l.tgz", "d", [later])
    assert config["order"] == [{"group": [{"id": "scalingo/python", "version": "0.1.0"},
                                          {"id": "t/later", "version": "1.2.3"}]}]
    assert [bp["uri"] for bp in config["buildpacks"]] == [str(REPO), str(later)]
    assert config["build"] == {"image": "b"} and config["run"] == {"images": [{"image": "r"}]}
    assert config["lifecycle"] == {"uri": str(tmp_path / "l.tgz")}


def test_the_operator_builder_configs_name_the_contract_images() -> None:
    for stack in ("scalingo-22", "scalingo-24"):
        config = toml_io.load(REPO / "builders" / f"{stack}.toml")
        assert config["build"]["image"] == f"{stack}-cnb-build"
        assert config["run"]["images"] == [{"image": f"{stack}-cnb-run"}]
        assert config["order"] == [{"group": [{"id": "scalingo/python"}]}]
        assert (REPO / "builders" / config["buildpacks"][0]["uri"]).resolve() == REPO / "dist" / "scalingo-python"


def test_lifecycle_archive_is_laid_out_as_a_release(tmp_path: Path) -> None:
    tools = ReferenceTools.find()
    if tools is None:
        pytest.skip("no reference lifecycle in .tools/bin")
    archive = lifecycle_archive(tools, tmp_path)
    assert lifecycle_archive(tools, tmp_path) == archive  # made once
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        descriptor_file = tar.extractfile("lifecycle.toml")
        assert descriptor_file is not None
        descriptor = toml_io.loads(descriptor_file.read().decode())
    assert descriptor["lifecycle"]["version"] == tools.version()
    assert "0.13" in descriptor["apis"]["platform"]["supported"]
    assert "0.10" in descriptor["apis"]["buildpack"]["supported"]
    assert members["lifecycle/lifecycle"].isfile() and members["lifecycle/launcher"].isfile()
    for phase in ("analyzer", "detector", "restorer", "builder", "exporter", "creator", "rebaser"):
        assert members[f"lifecycle/{phase}"].issym() and members[f"lifecycle/{phase}"].linkname == "lifecycle"


def test_daemon_discovery_says_why_there_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    (tmp_path / "env").write_text(f"DOCKER_HOST=unix://{tmp_path}/recorded.sock\n")
    found = daemon.find(tmp_path)
    assert isinstance(found, str)
    assert "recorded.sock does not answer: start it with dev/docker start" in found
    (tmp_path / "env").unlink()
    assert "no Docker daemon answers" in str(daemon.find(tmp_path))


def test_dev_docker_refuses_unknown_commands_and_reports_status(tmp_path: Path) -> None:
    done = subprocess.run([str(REPO / "dev" / "docker"), "frobnicate"], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "usage: dev/docker start|stop|status|possible" in done.stderr
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    status = subprocess.run([str(REPO / "dev" / "docker"), "status"], capture_output=True, text=True, env=env,
                            check=False)
    assert status.returncode in (0, 1)
    assert (status.returncode == 0) == bool(status.stdout.strip())
