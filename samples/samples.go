// Package samples embeds the example ExternalServices in this directory
// (the README's example among them), so the conformance suite can apply
// them to any cluster.
package samples

import "embed"

// FS holds every sample, one ExternalService per .yaml file.
//
//go:embed *.yaml
var FS embed.FS
