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

// The CoreDNS servers under test. Every timed configuration is a server
// block of one process, so that the ratios compare the plugin's work per
// query and not two processes: separate processes of the same binary and
// Corefile differ by up to 15% in throughput, run after run. Blocks of one
// process differ too, by up to 5% for identical work, and by process
// (c-with once ran 5% faster than c-without, though it does more). So
// every round starts a fresh process with the blocks in a rotated order,
// and the ratios are medians over rounds. Two more processes, each with
// one block, serve the heap measurement.

// server is one server block under test: its process and its port.
type server struct {
	name    string
	proc    *dnsharness.CoreDNS
	port    int
	ready   string // ready URL
	metrics string // metrics URL
	pprof   string // pprof base URL
}

// Roles of the blocks of the process under test.
const (
	rolePlugin        = iota // egressoperator in front of hosts.pass
	roleObserve              // the same with observe mode on
	roleHostsHijacked        // hosts serving the hijacked names
	roleHostsPass            // hosts.pass alone
	roles
)

// servers are the configurations' blocks. Every block has the same
// non-query plugins and prometheus (which is in the query path, as in a
// real cluster).
type servers struct {
	// blocks are the Corefile blocks by role; underTest the running
	// process's blocks by role, replaced every round.
	blocks    [roles]string
	underTest [roles]*server
	// One-block processes for the heap: the plugin, and CoreDNS without it.
	heapPlugin, heapBaseline *server
}

// hostsBlock is a hosts plugin block serving file.
func hostsBlock(file string) string {
	return fmt.Sprintf(`hosts %s {
        ttl 5
        reload 0
        no_reverse
    }`, file)
}

// startServers starts the processes; on failure it stops those it started.
func startServers(ctx context.Context, o options, dir string) (_ *servers, err error) {
	s := &servers{}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	plugin := fmt.Sprintf(`egressoperator {
        kubeconfig %s
        ttl 5
    }
    `, kubeconfig)
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
    `, kubeconfig, observePort)
	pass, hijacked := hostsBlock(filepath.Join(dir, "hosts.pass")), hostsBlock(filepath.Join(dir, "hosts.hijacked"))
	s.blocks = [roles]string{rolePlugin: plugin + pass, roleObserve: observe + pass, roleHostsHijacked: hijacked, roleHostsPass: pass}
	blocks, err := startProcess(ctx, o, dir, "heap-with-egressoperator", []string{plugin + pass})
	if err != nil {
		return nil, err
	}
	s.heapPlugin = blocks[0]
	if blocks, err = startProcess(ctx, o, dir, "heap-hosts-only", []string{pass}); err != nil {
		return nil, err
	}
	s.heapBaseline = blocks[0]
	return s, nil
}

// stop ends every process that was started.
func (s *servers) stop() {
	s.stopRound()
	for _, srv := range []*server{s.heapPlugin, s.heapBaseline} {
		if srv != nil {
			srv.proc.Stop()
		}
	}
}

// startRound starts the process under test for round r, its blocks in an
// order rotated by r, and checks that every block answers what it should.
func (s *servers) startRound(ctx context.Context, o options, dir string, r int) error {
	s.stopRound()
	order := make([]string, roles)
	for role, b := range s.blocks {
		order[(role+r)%roles] = b
	}
	blocks, err := startProcess(ctx, o, dir, fmt.Sprintf("under-test-%d", r+1), order)
	if err != nil {
		return err
	}
	for role := range s.underTest {
		s.underTest[role] = blocks[(role+r)%roles]
	}
	return s.check(ctx, o.names)
}

// stopRound ends the process under test, if one runs.
func (s *servers) stopRound() {
	if p := s.underTest[0]; p != nil {
		p.proc.Stop()
	}
	s.underTest = [roles]*server{}
}

// check waits until the plugin holds the names, then checks that every
// block of the process under test answers what it should before it is
// timed.
func (s *servers) check(ctx context.Context, names int) error {
	// The gauge is the process's: the answers are checked until every
	// block gives them.
	if err := waitNames(ctx, s.underTest[rolePlugin], names); err != nil {
		return err
	}
	last := names - 1
	checks := []struct {
		s          *server
		name, want string
	}{
		{s.underTest[rolePlugin], hijackedName(last), hijackedAddr(last)},
		{s.underTest[roleHostsHijacked], hijackedName(last), hijackedAddr(last)},
		{s.underTest[rolePlugin], passName(last), passAddr(last)},
		{s.underTest[roleObserve], hijackedName(last), hijackedAddr(last)},
		{s.underTest[roleObserve], passName(last), passAddr(last)},
		{s.underTest[roleHostsPass], passName(last), passAddr(last)},
	}
	deadline := time.Now().Add(5 * time.Minute)
	for _, c := range checks {
		for {
			err := expectA(c.s, c.name, c.want)
			if err == nil {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// startProcess runs one CoreDNS in its own directory under dir with one
// server block per entry of blocks (each its own port, the plugins after
// prometheus), the ready and pprof plugins in the first, and waits until it
// is ready. It returns the blocks.
func startProcess(ctx context.Context, o options, dir, name string, blocks []string) ([]*server, error) {
	ports := make([]int, len(blocks)+3) // the blocks', ready, prometheus, pprof
	for i := range ports {
		p, err := supervisor.FreePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	ready, prometheus, pprof := ports[len(blocks)], ports[len(blocks)+1], ports[len(blocks)+2]
	sdir := filepath.Join(dir, name)
	if err := os.MkdirAll(sdir, 0o755); err != nil {
		return nil, err
	}
	var corefile strings.Builder
	for i, plugins := range blocks {
		extra := ""
		if i == 0 {
			extra = fmt.Sprintf("ready 127.0.0.1:%d\n    pprof 127.0.0.1:%d\n    ", ready, pprof)
		}
		fmt.Fprintf(&corefile, ".:%d {\n    bind 127.0.0.1\n    %sprometheus 127.0.0.1:%d\n    %s\n}\n", ports[i], extra, prometheus, plugins)
	}
	var pin []func(*supervisor.Spec)
	if o.pin {
		pin = append(pin, func(spec *supervisor.Spec) {
			spec.Launcher = []string{"taskset", "-c", "1"}
			spec.Env = append(spec.Env, "GOMAXPROCS=1")
		})
	}
	proc, err := dnsharness.StartCoreDNS(o.coredns, sdir, corefile.String(), pin...)
	if err != nil {
		return nil, err
	}
	out := make([]*server, len(blocks))
	for i := range blocks {
		out[i] = &server{
			name: fmt.Sprintf("%s block %d", name, i+1), proc: proc, port: ports[i],
			ready:   fmt.Sprintf("http://127.0.0.1:%d/ready", ready),
			metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", prometheus),
			pprof:   fmt.Sprintf("http://127.0.0.1:%d/debug/pprof", pprof),
		}
	}
	if err := proc.WaitHTTP(ctx, time.Minute, out[0].ready, http.StatusOK); err != nil {
		proc.Stop()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
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
