// Package config holds the option types the lifecycle's extender fills in.
package config

import "time"

// KanikoDir is where kaniko keeps its state.
var KanikoDir = "/kaniko"

type CacheOptions struct {
	CacheTTL time.Duration
}

type RegistryOptions struct{}

type KanikoOptions struct {
	BuildArgs         []string
	Cache             bool
	CacheOptions      CacheOptions
	CacheRunLayers    bool
	CacheCopyLayers   bool
	CacheRepo         string
	Cleanup           bool
	CustomPlatform    string
	DockerfilePath    string
	IgnorePaths       []string
	IgnoreVarRun      bool
	InitialFSUnpacked bool
	NoPush            bool
	Reproducible      bool
	SnapshotMode      string
	SrcContext        string
}
