// Package embedded runs the conformance suite's own cluster: the local
// cluster (real kube-apiserver, etcd, controller-manager, scheduler, kwok
// and istiod), two replicas of the operator binary under leader election
// with the RBAC from config/rbac, and CoreDNS with the egressoperator
// plugin. It implements suite.ControlPlane, so the Resilience profile can
// stop the API server, restart the operator and kill its leader.
//
// Start brings the parts up in order, each in its own file: the cluster
// (embedded.go), the operator (operator.go, each replica supervised in
// replica.go), CoreDNS and the stand-in for the internet (coredns.go).
// controlplane.go and audit.go are what the Resilience tests act and
// count through; metrics.go and DNSMetrics say where the operator's and
// CoreDNS's Prometheus endpoints are (conformance/soak reads them).
package embedded

import (
	"context"
	"fmt"
	"io"

	"github.com/egressgate/egressgate/conformance/suite"
	"github.com/egressgate/egressgate/internal/localcluster"
)

// Harness is a running embedded cluster with the operator and CoreDNS.
type Harness struct {
	Cluster *localcluster.Cluster
	// DNSServer is CoreDNS's address.
	DNSServer string
	// DNSMetrics is the host:port of CoreDNS's Prometheus endpoint
	// (/metrics).
	DNSMetrics string

	replicas []*replica
}

// Start brings everything up, in the order each part needs the one
// before: the cluster, the operator (which needs the API server), then
// CoreDNS (whose plugin reads the ExternalServices).
func Start(ctx context.Context, progress io.Writer) (_ *Harness, err error) {
	cluster, err := startCluster(ctx, progress)
	if err != nil {
		return nil, err
	}
	h := &Harness{Cluster: cluster}
	defer func() {
		if err != nil {
			_ = h.Stop()
		}
	}()
	if err := h.startOperator(ctx); err != nil {
		return nil, err
	}
	if h.DNSServer, err = h.startCoreDNS(ctx); err != nil {
		return nil, err
	}
	return h, nil
}

// startCluster starts the local cluster with istiod, and a client
// identity for the operator's ServiceAccount.
func startCluster(ctx context.Context, progress io.Writer) (*localcluster.Cluster, error) {
	cluster, err := localcluster.Start(ctx, localcluster.Options{
		Istio:    true,
		Progress: progress,
		Users: []localcluster.User{{Name: OperatorUser, Groups: []string{
			"system:serviceaccounts", "system:serviceaccounts:" + localcluster.GatewayNamespace, "system:authenticated",
		}}},
	})
	if err != nil {
		return nil, fmt.Errorf("start the local cluster: %w", err)
	}
	return cluster, nil
}

// Stop ends the operator replicas and the cluster.
func (h *Harness) Stop() error {
	for _, r := range h.replicas {
		r.stop()
	}
	return h.Cluster.Stop()
}

// Options are the suite options for this harness: every feature but the
// data plane, which needs a CNI and Envoy.
func (h *Harness) Options() suite.Options {
	features := suite.NewFeatureSet()
	for _, p := range suite.AllProfiles {
		for _, f := range suite.Profiles[p] {
			features[f] = true
		}
	}
	why := map[suite.Feature]string{}
	for _, f := range suite.Profiles[suite.ProfileDataPlane] {
		why[f] = "the embedded cluster has no CNI and no Envoy: kwok's pods run no containers; run the suite against a real cluster"
	}
	if !h.Cluster.PodIPsAreLocal {
		why[suite.FeatureDNSQueryFromPodIP] = "pod IPs are not local addresses of this machine: run 'ip addr add " + localcluster.PodCIDR + " dev lo' as root"
	}
	for f := range why {
		delete(features, f)
	}
	return suite.Options{
		Client:               h.Cluster.Client,
		RestConfig:           h.Cluster.Config,
		SupportedFeatures:    features,
		UnsupportedReasons:   why,
		GatewayNamespace:     localcluster.GatewayNamespace,
		ClusterDomain:        "cluster.local",
		DNSServer:            h.DNSServer,
		DNSNamespace:         "kube-system",
		ExternalDomain:       ExternalDomain,
		ControlPlane:         h,
		PodDisruptionBudgets: true,
		IstiodXDSAddr:        h.Cluster.IstiodXDSAddr,
		IstiodNamespace:      localcluster.IstioNamespace,
	}
}
