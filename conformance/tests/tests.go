// Package tests holds the conformance tests, one per file, each
// registered in its file's init() into ConformanceTests. Manifests the
// tests apply live in manifests/.
package tests

import (
	"embed"

	"github.com/egressgate/egressgate/conformance/suite"
)

// ConformanceTests lists every test, in the order they run.
var ConformanceTests []suite.ConformanceTest

// Manifests holds the files ConformanceTest.Manifests name.
//
//go:embed manifests
var Manifests embed.FS

func register(t suite.ConformanceTest) { ConformanceTests = append(ConformanceTests, t) }
