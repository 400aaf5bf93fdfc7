# Sourced by bin/build: finds an interpreter and runs the build (bin/detect runs no Python).
# POSIX sh. Runs with the app dir as working directory and a possibly read-only buildpack dir.
#
# Interpreter, first found (docs/distribution.md):
#   1. <buildpack>/.venv/bin/python3: a development checkout, whose venv has the dependencies;
#   2. python3 on PATH. In a packaged buildpack (vendor/ present) lib/boot.py adds the
#      dependencies vendored for its version, or hands over to lib/bootstrap.sh (build on a
#      CPython fetched from the runtime mirror) when it cannot run the build;
#   3. no python3: the same hand-over, for a packaged buildpack only.
# -I: the app's PYTHONPATH/PYTHONHOME and the app dir itself never shadow our modules. Packaged:
# -S, neither do packages installed in the image's Python (and no .pth file runs); -B, nothing
# is written to the buildpack dir (read-only on platforms; byte-code is shipped).

run_phase() {
	phase=$1
	# ${0%/*}, cd and pwd are builtins: no dirname, which an empty PATH would not find.
	bp_dir=${CNB_BUILDPACK_DIR:-$(cd "${0%/*}/.." && pwd)}
	if [ -x "$bp_dir/.venv/bin/python3" ]; then
		exec "$bp_dir/.venv/bin/python3" -I "$bp_dir/lib/boot.py" "$bp_dir" "$phase"
	fi
	python=$(command -v python3 2>/dev/null || true)
	if [ -d "$bp_dir/vendor" ]; then
		if [ -n "$python" ]; then
			exec "$python" -I -S -B "$bp_dir/lib/boot.py" "$bp_dir" "$phase"
		fi
		echo
		echo "## Buildpack runtime"
		echo "   - No python3 on this image's PATH"
		exec /bin/sh "$bp_dir/lib/bootstrap.sh" "$bp_dir"
	fi
	if [ -z "$python" ]; then
		echo "Error: scalingo/python ($phase) needs a Python 3.8+ interpreter: none at $bp_dir/.venv/bin/python3 and no python3 on PATH." >&2
		exit 1
	fi
	exec "$python" -I "$bp_dir/lib/boot.py" "$bp_dir" "$phase"
}
