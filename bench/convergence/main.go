// Command convergence is the end-to-end benchmark behind `make
// bench-convergence`: on the local cluster (internal/localcluster) with
// istiod, kwok, the operator and CoreDNS, it creates ExternalServices one
// after another and measures, for each, the time from create to the first
// DNS answer carrying the gateway's address.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"time"

	"github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/controllers"
	"github.com/egressgate/egressgate/internal/localcluster"
	"github.com/egressgate/egressgate/translate"
)

// perServiceTimeout bounds the wait for one ExternalService's hijack.
const perServiceTimeout = 60 * time.Second

func main() {
	n := flag.Int("n", 50, "ExternalServices to create, one after another")
	flag.Parse()
	if err := run(*n); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(n int) error {
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fmt.Fprintln(os.Stderr, ">> starting the local cluster with istiod")
	coldStart := time.Now()
	cluster, err := localcluster.Start(ctx, localcluster.Options{Istio: true, Progress: os.Stderr})
	if err != nil {
		return err
	}
	defer func() { _ = cluster.Stop() }()
	clusterUp := time.Since(coldStart)
	mgr, err := controllers.NewManager(cluster.Config, translate.DefaultOptions(), controllers.ManagerOptions{MetricsAddr: "0", ProbeAddr: "0", Concurrency: 4})
	if err != nil {
		return err
	}
	go func() { _ = mgr.Start(ctx) }()
	dnsAddr, err := cluster.StartCoreDNS(ctx, "")
	if err != nil {
		return err
	}

	fmt.Fprintf(os.Stderr, ">> creating %d ExternalServices one after another\n", n)
	tls := egressv1.ProtocolTLS
	var took []time.Duration
	for i := range n {
		name := fmt.Sprintf("conv-%02d", i)
		host := name + ".example.com"
		es := &egressv1.ExternalService{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: egressv1.ExternalServiceSpec{
				DnsName: host, HijackDns: true, MinReplicas: new(int32(1)),
				Ports: []egressv1.ExternalServicePort{{Port: 443, Protocol: &tls}},
			},
		}
		start := time.Now()
		if err := cluster.Client.Create(ctx, es); err != nil {
			return err
		}
		if err := waitHijacked(ctx, dnsAddr, host); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	p := func(q float64) time.Duration { return took[min(len(took)-1, int(q*float64(len(took))))] }
	fmt.Printf("\nconvergence benchmark: %d ExternalServices created one after another, create → first hijacked DNS answer\n\n", n)
	fmt.Printf("| measure | value | target | |\n|---|---|---|---|\n")
	fmt.Printf("| local cluster cold start (tools built) | %.1fs | <= 30s | %s |\n", clusterUp.Seconds(), verdict(clusterUp <= 30*time.Second))
	fmt.Printf("| p50 | %.2fs | <= 2s | %s |\n", p(0.50).Seconds(), verdict(p(0.50) <= 2*time.Second))
	fmt.Printf("| p99 | %.2fs | <= 5s | %s |\n", p(0.99).Seconds(), verdict(p(0.99) <= 5*time.Second))
	fmt.Printf("| min / max | %.2fs / %.2fs | | |\n", took[0].Seconds(), took[len(took)-1].Seconds())
	return nil
}

// waitHijacked polls CoreDNS until host's A answer is a gateway ClusterIP.
func waitHijacked(ctx context.Context, server, host string) error {
	_, services, _ := net.ParseCIDR(localcluster.ServiceCIDR)
	deadline := time.Now().Add(perServiceTimeout)
	c := &dns.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(host), dns.TypeA)
		if r, _, err := c.ExchangeContext(ctx, m, server); err == nil {
			for _, rr := range r.Answer {
				if a, ok := rr.(*dns.A); ok && services.Contains(a.A) {
					return nil
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no hijacked answer within %s", perServiceTimeout)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
