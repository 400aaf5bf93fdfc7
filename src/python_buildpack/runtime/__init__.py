"""Where the app's Python comes from: which version, from which archive, checked how.

The catalogue of versions per stack (`catalog`), version numbers (`version_numbers`, a leaf),
the files where an app asks for a version (`version_files`), what that request means on this
stack (`selection`) and the warnings around it (`policy`), where the archives are (`mirror`),
their streamed, checked download (`download`), and the release engineer's command that pins
the archives' sha256 in a catalogue (`pin`: `python -m python_buildpack.runtime.pin`).

May import: `errors`, `output`, `cnb/`, `files/`, `stacks/`. Never the app, the layers, the
package managers or the build above them; the `python` layer installs what it selects.
"""
