package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// What the API server holds and counts: the ExternalServices the benchmark
// creates, the children the operator made of them, and the writes to the
// operator's resources.

// Resources the operator writes; API server writes to anything else (its
// own bookkeeping, leases, events) are not the operator's.
var operatorResources = map[string]bool{
	"externalservices": true, "networkpolicies": true, "configmaps": true, "serviceentries": true,
	"destinationrules": true, "gateways": true, "tlsroutes": true, "tcproutes": true,
}

// service is the i-th ExternalService of a run: TLS 443 and TCP 22 to a
// name of its own.
func service(prefix string, i int) *egressv1.ExternalService {
	tls, tcp := egressv1.ProtocolTLS, egressv1.ProtocolTCP
	return &egressv1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%04d", prefix, i)},
		Spec: egressv1.ExternalServiceSpec{
			DnsName: fmt.Sprintf("host-%04d.%s.example.com", i, prefix),
			Ports:   []egressv1.ExternalServicePort{{Port: 443, Protocol: &tls}, {Port: 22, Protocol: &tcp}},
		},
	}
}

// waitChildren polls until the namespace holds want children.
func waitChildren(ctx context.Context, c client.Client, ns string, want int) error {
	kinds := []schema.GroupVersionKind{
		{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicyList"},
		{Version: "v1", Kind: "ConfigMapList"},
		{Group: "networking.istio.io", Version: "v1", Kind: "ServiceEntryList"},
		{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "GatewayList"},
		{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "TLSRouteList"},
		{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "TCPRouteList"},
	}
	for {
		total := 0
		for _, gvk := range kinds {
			list := &metav1.PartialObjectMetadataList{}
			list.SetGroupVersionKind(gvk)
			if err := c.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{egressv1.LabelManagedBy: egressv1.ManagedByValue}); err != nil {
				return err
			}
			total += len(list.Items)
		}
		if total >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d children after the timeout: %w", total, want, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// apiWrites is the API server's count of writes to the operator's resources.
func apiWrites(ctx context.Context, cfg *rest.Config) (float64, error) {
	rc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := rc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("read API server metrics: %w", err)
	}
	defer resp.Body.Close()
	families, err := parseMetrics(resp.Body)
	if err != nil {
		return 0, err
	}
	var total float64
	for _, m := range families["apiserver_request_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		switch labels["verb"] {
		case "POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION":
		default:
			continue
		}
		if !operatorResources[labels["resource"]] {
			continue
		}
		// The benchmark itself creates the ExternalServices.
		if labels["resource"] == "externalservices" && labels["verb"] == "POST" {
			continue
		}
		total += m.GetCounter().GetValue()
	}
	return total, nil
}

func parseMetrics(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return fams, nil
}
