# Build on a CPython fetched from the runtime mirror, for a packaged buildpack on a build image
# whose python3 is missing or cannot run the build (Ubuntu 20.04's 3.8, or any version the
# buildpack vendors no dependencies for). Run as `/bin/sh lib/bootstrap.sh <buildpack dir>` by
# lib/run-phase.sh or lib/boot.py, which printed why.
#
# The interpreter is the newest version the runtime catalogue lists for this stack among the
# versions of vendor/cpXY-<machine>, from the mirror and catalogue the app's Python comes from
# (BP_PYTHON_RUNTIME_BASE_URL, BP_PYTHON_RUNTIME_CATALOG), checked against the catalogue's
# sha256 pin when there is one, and kept in the cache-only layer `bootstrap-python`: a rebuild
# downloads nothing. Needs curl or wget, zstd, tar, sha256sum, awk and sort, which the Scalingo
# (and Heroku) build images have. See docs/distribution.md.

set -u
bp_dir=$1
LAYER=bootstrap-python
DEFAULT_BASE_URL=https://python-binaries.scalingo.com
# The stack table, archive name and hint are those of src/python_buildpack/stacks/table.py
# (tests/unit/test_stacks.py checks that they agree).
MIRROR_HINT="If you set BP_PYTHON_RUNTIME_BASE_URL (or the legacy BUILDPACK_S3_BASE_URL), check that it points to a mirror that holds this archive."

fail() { # title, details: the build log's error format
	printf '\n! Error: %s\n!\n' "$1" >&2
	printf '%s\n' "$2" | fold -s -w 88 | sed 's/^/! /' >&2
	printf '\n' >&2
	exit 1
}

step() { printf '   - %s\n' "$1"; }

trim() { sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//'; }

# A user setting: the platform env file wins over the process environment, as in the build.
setting() {
	if [ -n "${CNB_PLATFORM_DIR:-}" ] && [ -f "$CNB_PLATFORM_DIR/env/$1" ]; then
		trim <"$CNB_PLATFORM_DIR/env/$1"
	else
		eval "printf '%s\n' \"\${$1:-}\"" | trim
	fi
}

layers=${CNB_LAYERS_DIR:-}
[ -n "$layers" ] || fail "The buildpack was not run by a CNB lifecycle" \
	"CNB_LAYERS_DIR is not set: this program is a buildpack phase and must be run by a CNB lifecycle (pack, a platform, or the local-lifecycle of the buildpack's repository)."

# --- stack and machine (the same sources, in the same order, as src/python_buildpack/stacks/identify.py)
ubuntu=
if [ -n "${CNB_TARGET_DISTRO_NAME:-}${CNB_TARGET_DISTRO_VERSION:-}" ]; then
	seen="CNB_TARGET_DISTRO_NAME=${CNB_TARGET_DISTRO_NAME:-} CNB_TARGET_DISTRO_VERSION=${CNB_TARGET_DISTRO_VERSION:-}"
	[ "${CNB_TARGET_DISTRO_NAME:-}" = ubuntu ] && ubuntu=${CNB_TARGET_DISTRO_VERSION:-}
elif [ -n "${CNB_STACK_ID:-}" ]; then
	seen="CNB_STACK_ID=$CNB_STACK_ID"
	case $CNB_STACK_ID in
	scalingo-20 | heroku-20 | io.buildpacks.stacks.focal) ubuntu=20.04 ;;
	scalingo-22 | heroku-22 | io.buildpacks.stacks.jammy) ubuntu=22.04 ;;
	scalingo-24 | heroku-24 | io.buildpacks.stacks.noble) ubuntu=24.04 ;;
	esac
else
	seen=/etc/os-release
	# shellcheck disable=SC1091
	ubuntu=$(. /etc/os-release 2>/dev/null && [ "${ID:-}" = ubuntu ] && printf '%s' "${VERSION_ID:-}")
fi
case $ubuntu in
20.04 | 22.04 | 24.04) stack=scalingo-${ubuntu%.04} ;;
*) fail "Unsupported stack ($seen)" "Supported: Ubuntu 20.04, 22.04 and 24.04 (stacks scalingo-20, scalingo-22, scalingo-24)." ;;
esac
machine=$(uname -m)
case $machine in
x86_64) arch=amd64 ;;
aarch64 | arm64) arch=arm64 machine=aarch64 ;;
*) fail "Unsupported machine $machine" "The buildpack runs on amd64 (x86_64) and arm64 (aarch64)." ;;
esac

# --- which interpreter: CPython versions the buildpack vendors its dependencies for
vendored=
for dir in "$bp_dir"/vendor/cp3*-"$machine"; do
	[ -d "$dir" ] || continue
	minor=${dir##*/cp3}
	vendored="$vendored 3.${minor%-"$machine"}"
done
catalog=$(setting BP_PYTHON_RUNTIME_CATALOG)
[ -n "$catalog" ] || catalog=$bp_dir/src/python_buildpack/data/runtime-catalog.toml
if ! { [ -f "$catalog" ] && [ -r "$catalog" ]; }; then
	fail "Cannot read the runtime catalogue $catalog" \
		"BP_PYTHON_RUNTIME_CATALOG must name a readable TOML file in the documented format."
fi

# The catalogue's documented shape, read without a TOML parser: `[stacks.<stack>]` tables of
# "X.Y" = "X.Y.Z" and `[[artifacts]]` tables of file/sha256 pairs.
entries=$(awk -v stack="$stack" '
	function unquote(s) {
		gsub(/^[ \t]+|[ \t]+$/, "", s)
		if (s ~ /^".*"$/ || s ~ /^\047.*\047$/) s = substr(s, 2, length(s) - 2)
		return s
	}
	{ sub(/\r$/, ""); line = $0; sub(/^[ \t]+/, "", line) }
	line == "" || line ~ /^#/ { next }
	line ~ /^\[/ {
		header = line; sub(/[ \t]*#.*$/, "", header); gsub(/[ \t"\047]/, "", header)
		in_stack = (header == "[stacks." stack "]")
		in_artifact = (header == "[[artifacts]]")
		if (in_artifact) n++
		next
	}
	{
		eq = index(line, "=")
		if (!eq) next
		key = unquote(substr(line, 1, eq - 1))
		value = substr(line, eq + 1); sub(/[ \t]*#.*$/, "", value); value = unquote(value)
		if (in_stack) print "version", value
		else if (in_artifact && key == "file") file[n] = value
		else if (in_artifact && key == "sha256") sha[n] = tolower(value)
	}
	END { for (i = 1; i <= n; i++) if (file[i] != "" && sha[i] ~ /^[0-9a-f]+$/ && length(sha[i]) == 64) print "pin", file[i], sha[i] }
' "$catalog")
version=$(printf '%s\n' "$entries" | awk -v want=" $vendored " '
	$1 == "version" && $2 ~ /^[0-9]+\.[0-9]+\.[0-9]+$/ {
		split($2, part, "."); if (index(want, " " part[1] "." part[2] " ")) print $2
	}' | sort -t. -k1,1n -k2,2n -k3,3n | tail -n 1)
[ -n "$version" ] || fail "No Python to run the buildpack on $stack" \
	"The buildpack runs on CPython$vendored (it ships its dependencies for those) and the runtime catalogue $catalog lists none of them for $stack. Add one to the catalogue (and the mirror), or use a build image whose python3 is one of them."
file=python-$version-ubuntu-$ubuntu-$arch.tar.zst
pin=$(printf '%s\n' "$entries" | awk -v file="$file" '$1 == "pin" && $2 == file { print $3 }' | tail -n 1)
# Strict mode, as for the app's runtime (runtime/catalog.py, require_pin): no unpinned download.
strict=$(setting BP_PYTHON_RUNTIME_REQUIRE_PIN | tr '[:upper:]' '[:lower:]')
case $strict in
1 | true | yes | on)
	[ -n "$pin" ] || fail "Python $version to run the buildpack is not pinned" \
		"BP_PYTHON_RUNTIME_REQUIRE_PIN is on and the runtime catalogue $catalog has no sha256 for $file. Pin it with \`python -m python_buildpack.runtime.pin\` (docs/distribution.md), or turn strict mode off." ;;
'' | 0 | false | no | off) ;;
*) fail "Invalid BP_PYTHON_RUNTIME_REQUIRE_PIN: '$strict'" \
	"BP_PYTHON_RUNTIME_REQUIRE_PIN must be true or false (also accepted: 1/0, yes/no, on/off)." ;;
esac

base='' base_name=''
for name in BP_PYTHON_RUNTIME_BASE_URL BUILDPACK_S3_BASE_URL; do
	base=$(setting "$name")
	if [ -n "$base" ]; then
		base_name=$name
		break
	fi
done
if [ -z "$base" ]; then
	base=$DEFAULT_BASE_URL
else
	case $base in
	*[[:space:]\"\\]* | *[![:print:]]*) valid= ;;
	http://?* | https://?*) valid=1 ;;
	*) valid= ;;
	esac
	[ -n "$valid" ] || fail "Invalid $base_name: '$base'" \
		"$base_name must be an http:// or https:// URL, for example $DEFAULT_BASE_URL. Fix the value or unset $base_name to use the default mirror."
	while [ "${base%/}" != "$base" ]; do base=${base%/}; done
fi
url=$base/$file

# --- the cached interpreter, or a fresh download
layer=$layers/$LAYER
# What the cached interpreter is: the pinned archive (whichever mirror served it), else the URL.
if [ -n "$pin" ]; then origin="$file sha256:$pin"; else origin=$url; fi
if [ -x "$layer/bin/python3" ] && [ "$(cat "$layer/.origin" 2>/dev/null)" = "$origin" ]; then
	step "Using cached Python $version to run the buildpack"
else
	if [ -e "$layer" ]; then
		step "Discarding the buildpack's cached interpreter since its source changed (was: $(cat "$layer/.origin" 2>/dev/null || echo unknown))"
	fi
	archive=$layers/.$file.download
	partial=$layers/.$LAYER.partial
	trap 'rm -rf "$archive" "$partial"' EXIT
	rm -rf "$layer" "$archive" "$partial"
	step "Downloading Python $version to run the buildpack ($file) ..."
	start=$(date +%s) status=0
	if command -v curl >/dev/null 2>&1; then
		error=$(curl --fail --silent --show-error --location --retry 3 --retry-connrefused \
			--connect-timeout 10 --max-time 900 --output "$archive" "$url" 2>&1) || status=$?
	elif command -v wget >/dev/null 2>&1; then
		error=$(wget --quiet --tries=4 --timeout=60 --output-document="$archive" "$url" 2>&1) || status=$?
	else
		fail "Neither curl nor wget is on PATH" "The buildpack needs one of them to download Python $version from $url."
	fi
	[ "${status:-0}" -eq 0 ] || fail "Could not download Python $version to run the buildpack" \
		"$url: ${error:-download failed (status $status)}. $MIRROR_HINT"
	if [ -n "$pin" ]; then
		actual=$(sha256sum "$archive" | cut -d ' ' -f 1)
		[ "$actual" = "$pin" ] || fail "Checksum mismatch for $file" \
			"Its sha256 is $actual, the runtime catalogue pins $pin. $MIRROR_HINT"
	fi
	command -v zstd >/dev/null 2>&1 || fail "zstd is not on PATH" "The buildpack needs it to unpack $file."
	mkdir -p "$partial"
	error=$(tar -x -f "$archive" -C "$partial" --no-same-owner --use-compress-program=zstd 2>&1) ||
		fail "Could not unpack $file" "$error"
	if ! LD_LIBRARY_PATH=$partial/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$partial/bin/python3" -I -S -c '' 2>/dev/null; then
		fail "The Python $version archive does not run on this image" \
			"$file must hold a CPython install prefix (bin/python3, lib/...) for $stack on $arch. $MIRROR_HINT"
	fi
	printf '%s' "$origin" >"$partial/.origin"
	mv "$partial" "$layer"
	rm -f "$archive"
	trap - EXIT
	printf '     done (%ss)\n' "$(($(date +%s) - start))"
fi
# Rewritten on every build: the lifecycle drops a restored layer whose types are not.
printf '[types]\ncache = true\n\n[metadata]\nversion = "%s"\nurl = "%s"\nsha256 = "%s"\n' \
	"$version" "$url" "$pin" >"$layers/$LAYER.toml"

export _PYTHON_BUILDPACK_LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}"
export LD_LIBRARY_PATH="$layer/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$layer/bin/python3" -I -S -B "$bp_dir/lib/boot.py" "$bp_dir" build
