# CNB detect, sourced by bin/detect: the decision, its messages and the build plan.
# Builtins only ([ -f ], printf, echo): no interpreter starts, so detect costs what the shell
# costs, on every image, with or without Python, and with an empty PATH. `[ -f ]` follows
# symlinks and is false for directories and broken links, as the build's own checks are.

plan=${CNB_BUILD_PLAN_PATH:-}
if [ -z "$plan" ]; then
	echo "Error: CNB_BUILD_PLAN_PATH is not set: this program is a buildpack phase and must be run by a CNB lifecycle (pack, a platform, or the local-lifecycle of the buildpack's repository)." >&2
	exit 1
fi
found=
for name in Pipfile requirements.txt poetry.lock uv.lock; do
	if [ -f "$name" ]; then
		found=${found:+$found, }$name
	fi
done
if [ -z "$found" ]; then
	# shellcheck disable=SC2016 # the backquotes are the message's, not a command
	with_pip='no requirements.txt: add one holding the line `.` (pip then installs the project and its dependencies)'
	if [ -f pyproject.toml ]; then
		# shellcheck disable=SC2016 # the same
		echo 'No Python app detected: pyproject.toml found but no uv.lock or poetry.lock: run `uv lock` or `poetry lock` and commit the lock file.'
	elif [ -f setup.py ]; then
		echo "No Python app detected: setup.py found but $with_pip."
	elif [ -f setup.cfg ]; then
		echo "No Python app detected: setup.cfg found but $with_pip."
	else
		echo "No Python app detected: none of Pipfile, requirements.txt, poetry.lock, uv.lock is at the root of the app."
	fi
	exit 100
fi
if ! printf '[[provides]]\nname = "python"\n\n[[requires]]\nname = "python"\n' >"$plan"; then
	echo "Error: cannot write the build plan $plan" >&2
	exit 1
fi
echo "Python app detected ($found)"
exit 0
