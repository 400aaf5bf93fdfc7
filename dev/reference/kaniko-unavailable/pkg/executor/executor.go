// Package executor refuses to build: image extension needs the real kaniko.
package executor

import (
	"errors"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/osscontainertools/kaniko/pkg/config"
)

// ErrUnavailable is returned by every build: this lifecycle was built without kaniko.
var ErrUnavailable = errors.New("image extension is unavailable: this lifecycle was built without kaniko")

func DoBuild(_ *config.KanikoOptions) (v1.Image, error) {
	return nil, ErrUnavailable
}
