// Stands in for github.com/osscontainertools/kaniko, which the Go module proxy reachable here
// refuses (403). The lifecycle uses kaniko only in its `extender` phase (Dockerfile image
// extensions), which this buildpack and its reference engine never run; every entry point here
// fails loudly instead of pretending to extend an image.
module github.com/osscontainertools/kaniko

go 1.24

require github.com/google/go-containerregistry v0.21.9
