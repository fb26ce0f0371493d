//go:build tools

// Package tools pins the Istio command the local cluster runs: istiod
// (pilot-discovery). `make tools` builds it into bin/ (see mk/cluster.mk).
// It lives in its own module because istio.io/istio pins older Kubernetes
// and Gateway API modules than egressgate's go.mod and hack/tools/k8s do.
package tools

import (
	_ "istio.io/istio/pilot/cmd/pilot-discovery"
)
