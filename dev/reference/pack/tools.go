//go:build tools

// Package tools pins the command `dev/setup` builds from this module.
package tools

import _ "github.com/buildpacks/pack"
