package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/crdpaths"
	"github.com/egressgate/egressgate/internal/dnsharness"
	"github.com/egressgate/egressgate/internal/testenv"
)

// What the servers answer from: hijacked ExternalServices in a real API
// server, and the files the hosts plugin and dnsperf read.

// apiServer is etcd and kube-apiserver with the ExternalServices, and a
// client fast enough to load thousands of them.
type apiServer struct {
	env    *testenv.Env
	client client.Client
}

// startAPIServer starts etcd and kube-apiserver with our CRDs and creates
// names hijacked ExternalServices.
func startAPIServer(ctx context.Context, names int) (*apiServer, error) {
	fmt.Println(">> starting etcd and kube-apiserver")
	paths, err := crdpaths.Ours()
	if err != nil {
		return nil, err
	}
	env, err := testenv.Start(paths)
	if err != nil {
		return nil, err
	}
	c, err := fastClient(env.Config)
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	fmt.Printf(">> creating %d hijacked ExternalServices\n", names)
	start := time.Now()
	if err := createHijacked(ctx, c, 0, names); err != nil {
		_ = env.Stop()
		return nil, err
	}
	fmt.Printf("   done in %.1f s\n", time.Since(start).Seconds())
	return &apiServer{env: env, client: c}, nil
}

// writeFiles writes into dir the kubeconfig of the API server, the hosts
// files (hosts.hijacked: the hijacked names; hosts.pass: other names) and
// the dnsperf query files for both.
func writeFiles(dir string, cfg *rest.Config, names int) error {
	if err := dnsharness.WriteKubeconfig(cfg, filepath.Join(dir, "kubeconfig")); err != nil {
		return err
	}
	var hijackedHosts, passHosts, hijackedQueries, passQueries strings.Builder
	for i := range names {
		fmt.Fprintf(&hijackedHosts, "%s %s\n", hijackedAddr(i), hijackedName(i))
		fmt.Fprintf(&passHosts, "%s %s\n", passAddr(i), passName(i))
		fmt.Fprintf(&hijackedQueries, "%s A\n", hijackedName(i))
		fmt.Fprintf(&passQueries, "%s A\n", passName(i))
	}
	for name, content := range map[string]string{
		"hosts.hijacked": hijackedHosts.String(), "hosts.pass": passHosts.String(),
		"queries.hijacked": hijackedQueries.String(), "queries.pass": passQueries.String(),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

func hijackedName(i int) string { return fmt.Sprintf("h-%05d.bench.example.org", i) }
func passName(i int) string     { return fmt.Sprintf("p-%05d.bench.example.org", i) }
func hijackedAddr(i int) string { return fmt.Sprintf("10.100.%d.%d", i/250, i%250+1) }
func passAddr(i int) string     { return fmt.Sprintf("10.200.%d.%d", i/250, i%250+1) }

// fastClient is a client without client-side rate limits, for loading
// thousands of objects.
func fastClient(cfg *rest.Config) (client.Client, error) {
	scheme := runtime.NewScheme()
	if err := egressv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	fast := rest.CopyConfig(cfg)
	fast.QPS, fast.Burst = 2000, 4000
	return client.New(fast, client.Options{Scheme: scheme})
}

// createHijacked creates ExternalServices from to to-1, each with
// DNSHijacked=True and one address, from a few workers at once.
func createHijacked(ctx context.Context, c client.Client, from, to int) error {
	const workers = 8
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := dnsharness.CreateHijacked(ctx, c, fmt.Sprintf("h-%05d", i), hijackedName(i), hijackedAddr(i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for i := from; i < to; i++ {
		select {
		case next <- i:
		case err = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err != nil {
		return err
	}
	select {
	case err = <-errs:
		return err
	default:
		return nil
	}
}
