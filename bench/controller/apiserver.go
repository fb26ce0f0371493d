package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

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

// writes counts API writes to the operator's resources: to children, to
// ExternalServices' status, and the rest (finalizer patches, deletes).
type writes struct{ children, status, other float64 }

func (w writes) minus(o writes) writes {
	return writes{w.children - o.children, w.status - o.status, w.other - o.other}
}

func (w writes) per(n int) writes {
	f := float64(n)
	return writes{w.children / f, w.status / f, w.other / f}
}

func (w writes) total() float64 { return w.children + w.status + w.other }

// apiWrites is the API server's count of writes to the operator's resources.
func apiWrites(ctx context.Context, cfg *rest.Config) (writes, error) {
	var w writes
	rc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return w, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+"/metrics", nil)
	if err != nil {
		return w, err
	}
	resp, err := rc.Do(req)
	if err != nil {
		return w, fmt.Errorf("read API server metrics: %w", err)
	}
	defer resp.Body.Close()
	families, err := parseMetrics(resp.Body)
	if err != nil {
		return w, err
	}
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
		v := m.GetCounter().GetValue()
		switch {
		case labels["resource"] != "externalservices":
			w.children += v
		case labels["subresource"] == "status":
			w.status += v
		default:
			w.other += v
		}
	}
	return w, nil
}

func parseMetrics(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return fams, nil
}
