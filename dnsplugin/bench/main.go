// Command bench measures the egressoperator plugin inside the real CoreDNS
// binary (bin/coredns) with Debian's dnsperf, against a real kube-apiserver
// holding the ExternalServices. It is what `make bench-dns` runs.
//
// The same binary serves every configuration, 1000 names each:
//
//	(a) egressoperator hijacking 1000 names;
//	(b) the stock hosts plugin serving the same 1000 name→IP pairs, the
//	    ceiling for an in-memory answer in CoreDNS;
//	(c) pass-through: 1000 other names answered by hosts, with egressoperator
//	    (its 1000 names loaded) in front and without it.
//
// The configurations run interleaved, in a rotating order, for several
// rounds; the table shows medians. Then 9000 more ExternalServices are
// loaded and the heap of the CoreDNS process with egressoperator is read
// after a garbage collection.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goruntime "runtime"

	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/dnsplugin/internal/harness"
	"github.com/egressgate/egressgate/internal/crdpaths"
	"github.com/egressgate/egressgate/internal/testenv"
)

// Targets from the issue.
const (
	targetHijackRatio = 0.90 // a/b
	targetPassRatio   = 0.97 // c-with/c-without
	targetHeapMiB     = 50
)

func main() {
	var o options
	flag.StringVar(&o.coredns, "coredns", "", "CoreDNS binary with egressoperator (default: bin/coredns)")
	flag.IntVar(&o.names, "names", 1000, "names per configuration")
	flag.IntVar(&o.heapServices, "heap-services", 10000, "ExternalServices loaded for the heap measurement")
	flag.IntVar(&o.rounds, "rounds", 9, "rounds of every configuration (the issue asks for at least 5)")
	flag.DurationVar(&o.duration, "duration", 4*time.Second, "length of one dnsperf run")
	flag.IntVar(&o.clients, "clients", 4, "dnsperf clients (-c)")
	flag.IntVar(&o.outstanding, "outstanding", 100, "dnsperf queries outstanding (-q)")
	flag.BoolVar(&o.pin, "pin", true, "pin CoreDNS to CPU 1 (GOMAXPROCS=1) and dnsperf to CPU 0, when taskset and 2 CPUs are there")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the command line flags.
type options struct {
	coredns             string
	names, heapServices int
	rounds, clients     int
	outstanding         int
	duration            time.Duration
	pin                 bool
}

// server is one CoreDNS process under test.
type server struct {
	name    string
	proc    *harness.CoreDNS
	port    int
	ready   string // ready URL
	metrics string // metrics URL
	pprof   string // pprof base URL
}

// config is one measured configuration: a server and the names asked.
type config struct {
	label   string
	server  *server
	queries string // dnsperf data file
	results []result
}

type result struct {
	qps, latency float64 // queries per second, average latency in seconds
	cpu          float64 // CoreDNS CPU time per completed query, in seconds
}

func run(o options) error {
	ctx := context.Background()
	if _, err := exec.LookPath("dnsperf"); err != nil {
		return errors.New("dnsperf is not installed: run 'make bench-dns' (it installs Debian's dnsperf) or apt-get install -y dnsperf")
	}
	if o.pin {
		if _, err := exec.LookPath("taskset"); err != nil || goruntime.NumCPU() < 2 {
			fmt.Println(">> not pinning: needs taskset and 2 CPUs")
			o.pin = false
		}
	}
	if o.coredns == "" {
		bin, err := harness.CoreDNSBinary()
		if err != nil {
			return err
		}
		o.coredns = bin
	}
	dir, err := os.MkdirTemp("", "egressgate-bench-dns-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Println(">> starting etcd and kube-apiserver")
	paths, err := crdpaths.Ours()
	if err != nil {
		return err
	}
	env, err := testenv.Start(paths)
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	c, err := fastClient(env.Config)
	if err != nil {
		return err
	}

	fmt.Printf(">> creating %d hijacked ExternalServices\n", o.names)
	start := time.Now()
	if err := createHijacked(ctx, c, 0, o.names); err != nil {
		return err
	}
	fmt.Printf("   done in %.1f s\n", time.Since(start).Seconds())

	// Files: kubeconfig, hosts files and dnsperf query files.
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := harness.WriteKubeconfig(env.Config, kubeconfig); err != nil {
		return err
	}
	var hijackedHosts, passHosts, hijackedQueries, passQueries strings.Builder
	for i := range o.names {
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
			return err
		}
	}

	// Three servers: every one has the same non-query plugins and
	// prometheus (which is in the query path, as in a real cluster).
	withPlugin, err := startServer(ctx, o, dir, "with-egressoperator", fmt.Sprintf(`egressoperator {
        kubeconfig %s
        ttl 5
    }
    hosts %s {
        ttl 5
        reload 0
        no_reverse
    }`, kubeconfig, filepath.Join(dir, "hosts.pass")))
	if err != nil {
		return err
	}
	defer withPlugin.proc.Stop()
	hostsHijacked, err := startServer(ctx, o, dir, "hosts-same-names", fmt.Sprintf(`hosts %s {
        ttl 5
        reload 0
        no_reverse
    }`, filepath.Join(dir, "hosts.hijacked")))
	if err != nil {
		return err
	}
	defer hostsHijacked.proc.Stop()
	hostsOnly, err := startServer(ctx, o, dir, "hosts-only", fmt.Sprintf(`hosts %s {
        ttl 5
        reload 0
        no_reverse
    }`, filepath.Join(dir, "hosts.pass")))
	if err != nil {
		return err
	}
	defer hostsOnly.proc.Stop()

	if err := waitNames(ctx, withPlugin, o.names); err != nil {
		return err
	}
	// Every configuration answers what it should before it is timed.
	last := o.names - 1
	for _, check := range []struct {
		s          *server
		name, want string
	}{
		{withPlugin, hijackedName(last), hijackedAddr(last)},
		{hostsHijacked, hijackedName(last), hijackedAddr(last)},
		{withPlugin, passName(last), passAddr(last)},
		{hostsOnly, passName(last), passAddr(last)},
	} {
		if err := expectA(check.s, check.name, check.want); err != nil {
			return err
		}
	}

	configs := []*config{
		{label: "(a) egressoperator, hijacked names", server: withPlugin, queries: filepath.Join(dir, "queries.hijacked")},
		{label: "(b) hosts, the same names", server: hostsHijacked, queries: filepath.Join(dir, "queries.hijacked")},
		{label: "(c) pass-through, with egressoperator", server: withPlugin, queries: filepath.Join(dir, "queries.pass")},
		{label: "(c) pass-through, without", server: hostsOnly, queries: filepath.Join(dir, "queries.pass")},
	}
	fmt.Printf(">> %d rounds of %d configurations, %s each (dnsperf -c %d -q %d)\n",
		o.rounds, len(configs), o.duration, o.clients, o.outstanding)
	for r := range o.rounds {
		for i := range configs {
			cfg := configs[(i+r)%len(configs)] // rotate the order every round
			res, err := dnsperf(cfg, o)
			if err != nil {
				return err
			}
			cfg.results = append(cfg.results, res)
			fmt.Printf("   round %2d  %-40s %8.0f qps  %8.1f µs latency  %6.2f µs CPU/query\n",
				r+1, cfg.label, res.qps, res.latency*1e6, res.cpu*1e6)
		}
	}

	heapBefore, err := heapAlloc(withPlugin)
	if err != nil {
		return err
	}
	heapBaseline, err := heapAlloc(hostsOnly)
	if err != nil {
		return err
	}
	fmt.Printf(">> creating %d more ExternalServices (%d in all)\n", o.heapServices-o.names, o.heapServices)
	start = time.Now()
	if err := createHijacked(ctx, c, o.names, o.heapServices); err != nil {
		return err
	}
	if err := waitNames(ctx, withPlugin, o.heapServices); err != nil {
		return err
	}
	fmt.Printf("   created and in the plugin's table in %.1f s\n", time.Since(start).Seconds())
	heapAfter, err := heapAlloc(withPlugin)
	if err != nil {
		return err
	}

	printTable(o, configs)
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	fmt.Println()
	fmt.Printf("Heap after GC (HeapAlloc), CoreDNS with egressoperator, %d ExternalServices: %.1f MiB (target: plugin ≤ %d MiB)\n",
		o.heapServices, mib(heapAfter), targetHeapMiB)
	fmt.Printf("  same process with %d ExternalServices:                   %.1f MiB\n", o.names, mib(heapBefore))
	fmt.Printf("  CoreDNS without egressoperator (hosts, %d names):         %.1f MiB\n", o.names, mib(heapBaseline))
	fmt.Printf("  plugin's share with %d ExternalServices (difference):   %.1f MiB\n", o.heapServices, mib(heapAfter)-mib(heapBaseline))
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
				if err := harness.CreateHijacked(ctx, c, fmt.Sprintf("h-%05d", i), hijackedName(i), hijackedAddr(i)); err != nil {
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

func startServer(ctx context.Context, o options, dir, name, plugins string) (*server, error) {
	ports := make([]int, 4)
	for i := range ports {
		p, err := harness.FreePort()
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
	var pin []func(*exec.Cmd)
	if o.pin {
		pin = append(pin, func(cmd *exec.Cmd) {
			cmd.Args = append([]string{"taskset", "-c", "1"}, cmd.Args...)
			cmd.Path, _ = exec.LookPath("taskset")
			cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
		})
	}
	proc, err := harness.StartCoreDNS(o.coredns, sdir, corefile, pin...)
	if err != nil {
		return nil, err
	}
	s := &server{
		name: name, proc: proc, port: ports[0],
		ready:   fmt.Sprintf("http://127.0.0.1:%d/ready", ports[1]),
		metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[2]),
		pprof:   fmt.Sprintf("http://127.0.0.1:%d/debug/pprof", ports[3]),
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := proc.WaitHTTP(wctx, s.ready, http.StatusOK); err != nil {
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

var (
	qpsLine     = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	latencyLine = regexp.MustCompile(`Average Latency \(s\):\s+([0-9.]+)`)
	rcodesLine  = regexp.MustCompile(`Response codes:\s+(.*)`)
	lostLine    = regexp.MustCompile(`Queries lost:\s+([0-9]+)`)
	doneLine    = regexp.MustCompile(`Queries completed:\s+([0-9]+)`)
)

// dnsperf runs one timed load against cfg and checks that every answer
// was NOERROR.
func dnsperf(cfg *config, o options) (result, error) {
	args := []string{
		"-s", "127.0.0.1", "-p", strconv.Itoa(cfg.server.port), "-d", cfg.queries,
		"-l", strconv.Itoa(int(o.duration.Seconds())), "-c", strconv.Itoa(o.clients),
		"-q", strconv.Itoa(o.outstanding), "-T", "1",
	}
	cmd := exec.Command("dnsperf", args...)
	if o.pin {
		cmd = exec.Command("taskset", append([]string{"-c", "0", "dnsperf"}, args...)...)
	}
	cpuBefore, err := cpuTime(cfg.server.proc.Pid())
	if err != nil {
		return result{}, err
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("dnsperf %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	text := string(out)
	cpuAfter, err := cpuTime(cfg.server.proc.Pid())
	if err != nil {
		return result{}, err
	}
	qps, errQ := parseFloat(qpsLine, text)
	lat, errL := parseFloat(latencyLine, text)
	done, errD := parseFloat(doneLine, text)
	if err := errors.Join(errQ, errL, errD); err != nil {
		return result{}, fmt.Errorf("read dnsperf output: %w\n%s", err, text)
	}
	if m := rcodesLine.FindStringSubmatch(text); m == nil || !strings.HasPrefix(m[1], "NOERROR") || strings.Contains(m[1], ",") {
		return result{}, fmt.Errorf("%s: answers other than NOERROR:\n%s", cfg.label, text)
	}
	if m := lostLine.FindStringSubmatch(text); m != nil && m[1] != "0" {
		fmt.Printf("   (%s: %s queries lost)\n", cfg.label, m[1])
	}
	return result{qps: qps, latency: lat, cpu: (cpuAfter - cpuBefore).Seconds() / done}, nil
}

// cpuTime is the CPU time (user and system, all threads) a process has
// used, from /proc/PID/stat, in clock ticks of 10 ms.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time of CoreDNS: %w", err)
	}
	// Fields after the command name, which is in parentheses: state is
	// field 3, utime and stime are fields 14 and 15.
	rest := string(b)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	fields := strings.Fields(rest)
	if len(fields) < 13 {
		return 0, fmt.Errorf("read CPU time of CoreDNS: short /proc/%d/stat", pid)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read CPU time of CoreDNS: %w", err)
		}
		ticks += n
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(ticks) * tick, nil
}

func parseFloat(re *regexp.Regexp, text string) (float64, error) {
	m := re.FindStringSubmatch(text)
	if m == nil {
		return 0, fmt.Errorf("no match for %s", re)
	}
	return strconv.ParseFloat(m[1], 64)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func medians(c *config) (qps, latency, cpu float64) {
	var q, l, u []float64
	for _, r := range c.results {
		q = append(q, r.qps)
		l = append(l, r.latency)
		u = append(u, r.cpu)
	}
	return median(q), median(l), median(u)
}

func printTable(o options, configs []*config) {
	fmt.Println()
	pinned := "CoreDNS and dnsperf share the CPUs"
	if o.pin {
		pinned = "CoreDNS pinned to CPU 1 with GOMAXPROCS=1, dnsperf to CPU 0"
	}
	fmt.Printf("DNS benchmark: %d names, %d interleaved rounds × %s per configuration, medians\n", o.names, o.rounds, o.duration)
	fmt.Printf("(same bin/coredns for all; dnsperf -c %d -q %d over UDP; %s)\n", o.clients, o.outstanding, pinned)
	fmt.Println()
	fmt.Printf("| %-40s | %10s | %16s | %17s |\n", "configuration", "queries/s", "avg latency (µs)", "CPU/query (µs)")
	fmt.Printf("|%s|%s|%s|%s|\n", strings.Repeat("-", 42), strings.Repeat("-", 12), strings.Repeat("-", 18), strings.Repeat("-", 19))
	qps := make([]float64, len(configs))
	cpu := make([]float64, len(configs))
	for i, c := range configs {
		var lat float64
		qps[i], lat, cpu[i] = medians(c)
		fmt.Printf("| %-40s | %10.0f | %16.1f | %17.2f |\n", c.label, qps[i], lat*1e6, cpu[i]*1e6)
	}
	fmt.Println()
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	ab, cc := qps[0]/qps[1], qps[2]/qps[3]
	fmt.Printf("a/b              = %.3f (target ≥ %.2f: %s); median of per-round ratios %.3f; by CPU per query %.3f\n",
		ab, targetHijackRatio, verdict(ab >= targetHijackRatio), pairedRatio(configs[0], configs[1]), cpu[1]/cpu[0])
	fmt.Printf("c-with/c-without = %.3f (target ≥ %.2f: %s); median of per-round ratios %.3f; by CPU per query %.3f\n",
		cc, targetPassRatio, verdict(cc >= targetPassRatio), pairedRatio(configs[2], configs[3]), cpu[3]/cpu[2])
	fmt.Println("(Ratios are of queries/s, the throughput dnsperf saw. The per-round ratios compare runs made")
	fmt.Println("close together, and CPU/query is CoreDNS's own CPU time: both are less disturbed by other load.)")
}

// pairedRatio is the median over rounds of x's throughput over y's in the
// same round.
func pairedRatio(x, y *config) float64 {
	var ratios []float64
	for r := range min(len(x.results), len(y.results)) {
		ratios = append(ratios, x.results[r].qps/y.results[r].qps)
	}
	return median(ratios)
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
