package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/egressgate/egressgate/internal/dnsharness"
	"github.com/egressgate/egressgate/internal/supervisor"
)

// The CoreDNS servers under test, each its own bin/coredns process.

// server is one CoreDNS process under test.
type server struct {
	name    string
	proc    *dnsharness.CoreDNS
	port    int
	ready   string // ready URL
	metrics string // metrics URL
	pprof   string // pprof base URL
}

// servers are the configurations' processes. Every one has the same
// non-query plugins and prometheus (which is in the query path, as in a
// real cluster).
type servers struct {
	withPlugin    *server // egressoperator in front of hosts.pass
	withObserve   *server // the same with observe mode on
	hostsHijacked *server // hosts serving the hijacked names
	hostsOnly     *server // hosts.pass alone
}

// hostsBlock is a hosts plugin block serving file.
func hostsBlock(file string) string {
	return fmt.Sprintf(`hosts %s {
        ttl 5
        reload 0
        no_reverse
    }`, file)
}

// startServers starts the servers; on failure it stops those it
// started.
func startServers(ctx context.Context, o options, dir string) (s *servers, err error) {
	s = &servers{}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	plugin := fmt.Sprintf(`egressoperator {
        kubeconfig %s
        ttl 5
    }
    `, filepath.Join(dir, "kubeconfig"))
	if s.withPlugin, err = startServer(ctx, o, dir, "with-egressoperator", plugin+hostsBlock(filepath.Join(dir, "hosts.pass"))); err != nil {
		return nil, err
	}
	observePort, err := supervisor.FreePort()
	if err != nil {
		return nil, err
	}
	observe := fmt.Sprintf(`egressoperator {
        kubeconfig %s
        ttl 5
        observe {
            listen 127.0.0.1:%d
            max_entries 10000
        }
    }
    `, filepath.Join(dir, "kubeconfig"), observePort)
	if s.withObserve, err = startServer(ctx, o, dir, "with-egressoperator-observe", observe+hostsBlock(filepath.Join(dir, "hosts.pass"))); err != nil {
		return nil, err
	}
	if s.hostsHijacked, err = startServer(ctx, o, dir, "hosts-same-names", hostsBlock(filepath.Join(dir, "hosts.hijacked"))); err != nil {
		return nil, err
	}
	if s.hostsOnly, err = startServer(ctx, o, dir, "hosts-only", hostsBlock(filepath.Join(dir, "hosts.pass"))); err != nil {
		return nil, err
	}
	return s, nil
}

// stop ends every server that was started.
func (s *servers) stop() {
	for _, srv := range []*server{s.withPlugin, s.withObserve, s.hostsHijacked, s.hostsOnly} {
		if srv != nil {
			srv.proc.Stop()
		}
	}
}

// check waits until the plugin holds the names, then checks that every
// configuration answers what it should before it is timed.
func (s *servers) check(ctx context.Context, names int) error {
	if err := waitNames(ctx, s.withPlugin, names); err != nil {
		return err
	}
	if err := waitNames(ctx, s.withObserve, names); err != nil {
		return err
	}
	last := names - 1
	for _, check := range []struct {
		s          *server
		name, want string
	}{
		{s.withPlugin, hijackedName(last), hijackedAddr(last)},
		{s.hostsHijacked, hijackedName(last), hijackedAddr(last)},
		{s.withPlugin, passName(last), passAddr(last)},
		{s.withObserve, hijackedName(last), hijackedAddr(last)},
		{s.withObserve, passName(last), passAddr(last)},
		{s.hostsOnly, passName(last), passAddr(last)},
	} {
		if err := expectA(check.s, check.name, check.want); err != nil {
			return err
		}
	}
	return nil
}

// startServer runs one CoreDNS in its own directory under dir, with
// plugins after the ready, prometheus and pprof plugins, and waits until it
// is ready.
func startServer(ctx context.Context, o options, dir, name, plugins string) (*server, error) {
	ports := make([]int, 4)
	for i := range ports {
		p, err := supervisor.FreePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	sdir := filepath.Join(dir, name)
	if err := os.MkdirAll(sdir, 0o755); err != nil {
		return nil, err
	}
	corefile := fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    ready 127.0.0.1:%d
    prometheus 127.0.0.1:%d
    pprof 127.0.0.1:%d
    %s
}
`, ports[0], ports[1], ports[2], ports[3], plugins)
	var pin []func(*supervisor.Spec)
	if o.pin {
		pin = append(pin, func(spec *supervisor.Spec) {
			spec.Launcher = []string{"taskset", "-c", "1"}
			spec.Env = append(spec.Env, "GOMAXPROCS=1")
		})
	}
	proc, err := dnsharness.StartCoreDNS(o.coredns, sdir, corefile, pin...)
	if err != nil {
		return nil, err
	}
	s := &server{
		name: name, proc: proc, port: ports[0],
		ready:   fmt.Sprintf("http://127.0.0.1:%d/ready", ports[1]),
		metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[2]),
		pprof:   fmt.Sprintf("http://127.0.0.1:%d/debug/pprof", ports[3]),
	}
	if err := proc.WaitHTTP(ctx, time.Minute, s.ready, http.StatusOK); err != nil {
		proc.Stop()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// waitNames waits until the plugin's table holds n names.
func waitNames(ctx context.Context, s *server, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	want := fmt.Sprintf("coredns_egressoperator_hijacked_names %d\n", n)
	for {
		body, err := get(s.metrics)
		if err == nil && strings.Contains(body, want) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: the plugin's table never reached %d names: %w", s.name, n, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func expectA(s *server, name, want string) error {
	c := &dns.Client{Timeout: 2 * time.Second}
	r, _, err := c.Exchange(new(dns.Msg).SetQuestion(dns.Fqdn(name), dns.TypeA), fmt.Sprintf("127.0.0.1:%d", s.port))
	if err != nil {
		return fmt.Errorf("%s: query %s: %w", s.name, name, err)
	}
	if len(r.Answer) != 1 {
		return fmt.Errorf("%s: %s answered %v, want A %s", s.name, name, r.Answer, want)
	}
	if a, ok := r.Answer[0].(*dns.A); !ok || a.A.String() != want {
		return fmt.Errorf("%s: %s answered %v, want A %s", s.name, name, r.Answer[0], want)
	}
	return nil
}

// heapAlloc is the process's HeapAlloc right after a garbage collection,
// read from the pprof plugin's heap profile (gc=1 collects first).
func heapAlloc(s *server) (uint64, error) {
	body, err := get(s.pprof + "/heap?gc=1&debug=1")
	if err != nil {
		return 0, fmt.Errorf("%s: read heap profile: %w", s.name, err)
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "# HeapAlloc = "); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no HeapAlloc in the heap profile", s.name)
}

func get(url string) (string, error) {
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}
