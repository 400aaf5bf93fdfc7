// Package image exposes the base-image hook the extender overrides.
package image

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/osscontainertools/kaniko/pkg/config"
)

var RetrieveRemoteImage = func(_ string, _ config.RegistryOptions, _ string) (v1.Image, error) {
	return nil, nil
}
