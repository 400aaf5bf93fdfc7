"""A tiny shell buildpack that records what a lifecycle shows it: restored layers, platform
env, target. Used to hold the emulation to the reference lifecycle and to test the emulation."""

from __future__ import annotations

DETECT = """#!/bin/sh
[ -f marker ] || exit 100
printf '[[provides]]\\nname = "python"\\n[[requires]]\\nname = "python"\\n' > "$CNB_BUILD_PLAN_PATH"
"""


# Records what was restored, then writes one layer of each kind plus launch.toml.
BUILD = """#!/bin/sh
set -eu
L=$CNB_LAYERS_DIR
echo "plan: $(cat "$CNB_BP_PLAN_PATH" | tr '\\n' ' ')"
for name in cached launchonly buildonly; do
  if [ -f "$L/$name.toml" ]; then echo "restored-toml $name: $(tr '\\n' ' ' < "$L/$name.toml")"; fi
  if [ -d "$L/$name" ]; then echo "restored-dir $name: $(cat "$L/$name/data" 2>/dev/null)"; fi
done
echo "platform-env: ${USER_SETTING:-unset}"
echo "target: $CNB_TARGET_DISTRO_NAME $CNB_TARGET_DISTRO_VERSION"
[ "${FAIL_BUILD:-}" = 1 ] && { echo failing; exit 7; }
build_no=$(cat "$L/cached/data" 2>/dev/null || echo 0); build_no=$((build_no + 1))
mkdir -p "$L/cached" "$L/launchonly/bin" "$L/launchonly/env.launch" "$L/launchonly/exec.d" "$L/buildonly"
echo "$build_no" > "$L/cached/data"
printf '[types]\\ncache = true\\n[metadata]\\nbuild = %s\\n' "$build_no" > "$L/cached.toml"
if [ "${KEEP_LAUNCH:-}" != 1 ] || [ ! -f "$L/launchonly.toml" ]; then
  printf '#!/bin/sh\\necho "hello from $GREETING_TARGET ${FROM_EXEC_D:-}"\\n' > "$L/launchonly/bin/greet"
  chmod +x "$L/launchonly/bin/greet"
  printf 'world' > "$L/launchonly/env.launch/GREETING_TARGET.default"
  printf '#!/bin/sh\\necho FROM_EXEC_D = \\"exec.d ran\\" >&3\\n' > "$L/launchonly/exec.d/setter"
  chmod +x "$L/launchonly/exec.d/setter"
else
  rm -rf "$L/launchonly"   # reuse the image's layer: metadata only
fi
printf '[types]\\nlaunch = true\\n[metadata]\\nv = 1\\n' > "$L/launchonly.toml"
printf '[types]\\nbuild = true\\n' > "$L/buildonly.toml"
mkdir -p "$L/untyped"; printf '[metadata]\\nx = 1\\n' > "$L/untyped.toml"
printf '[[processes]]\\ntype = "web"\\ncommand = ["greet"]\\ndefault = true\\n' > "$L/launch.toml"
echo built > output-in-app
"""


DESCRIPTOR = """api = "0.10"
[buildpack]
id = "test/recorder"
name = "Recorder"
version = "0.0.1"
[[targets]]
os = "linux"
arch = "amd64"
[[targets.distros]]
name = "ubuntu"
version = "24.04"
"""
