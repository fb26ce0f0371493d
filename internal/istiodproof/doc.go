// Package istiodproof holds one integration test, and no code: it proves that
// the istiod built by `make tools` (bin/pilot-discovery), run against a real
// kube-apiserver with the injection config rendered into bin/istio/inject,
// creates the Deployment and Service of a Gateway of class istio. That is the
// part of the local cluster egressgate relies on istiod for; the
// controller-manager, scheduler and kwok that make the Gateway Programmed are
// not started here.
package istiodproof
