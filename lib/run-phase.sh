# Sourced by bin/detect and bin/build: finds an interpreter and runs one phase.
# POSIX sh. Runs with the app dir as working directory and a possibly read-only buildpack dir.
# One interpreter start only: detect runs for every app on a platform.

run_phase() {
	phase=$1
	bp_dir=${CNB_BUILDPACK_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
	# A buildpack-local environment (development checkout or packaged bootstrap) comes first,
	# then the build image's python3.
	python=$bp_dir/.venv/bin/python3
	if [ ! -x "$python" ]; then
		python=$(command -v python3 2>/dev/null || true)
	fi
	if [ -z "$python" ]; then
		echo "Error: scalingo/python ($phase) needs a Python 3.8+ interpreter: none at $bp_dir/.venv/bin/python3 and no python3 on PATH." >&2
		exit 1
	fi
	# -I: the app's PYTHONPATH/PYTHONHOME and the app dir itself must never shadow our modules.
	exec "$python" -I -c '
import sys
if sys.version_info < (3, 8):
    sys.exit("Error: scalingo/python (%s) needs Python 3.8+, found %s at %s" % (sys.argv[2], sys.version.split()[0], sys.executable))
sys.path.insert(0, sys.argv[1] + "/src")
from python_buildpack.__main__ import main
sys.exit(main(["", sys.argv[2]]))
' "$bp_dir" "$phase"
}
