// Command dns is the DNS benchmark behind `make bench-dns`: it measures the
// egressoperator plugin inside the real CoreDNS binary (bin/coredns) with
// Debian's dnsperf, against a real kube-apiserver holding the
// ExternalServices.
//
// One CoreDNS process serves every configuration, one server block each,
// 1000 names each; every round starts a fresh one with the blocks in a
// rotated order (servers.go says why):
//
//	(a) egressoperator hijacking 1000 names;
//	(b) the stock hosts plugin serving the same 1000 name→IP pairs, the
//	    ceiling for an in-memory answer in CoreDNS;
//	(c) pass-through: 1000 other names answered by hosts, with egressoperator
//	    (its 1000 names loaded) in front and without it;
//	(d, e) the hijacked and pass-through names of (a) and (c) with observe
//	    mode on, recording every query.
//
// Every round runs, in its own process, each comparison's two
// configurations back to back as x, y, y, x; the table shows medians, and each ratio is the median over
// rounds of those four runs' ratio. Then 9000 more ExternalServices are
// loaded and the heap of a CoreDNS process with only egressoperator's block
// is read after a garbage collection, against one with only hosts.
//
// The run follows the data: load ExternalServices into the API server
// (load.go), start the CoreDNS servers (servers.go), time them with
// dnsperf (dnsperf.go), then print the table (report.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"time"

	"github.com/egressgate/egressgate/internal/dnsharness"
)

// The targets of the DNS path (ARCHITECTURE.md, README "Benchmarks").
const (
	targetHijackRatio = 0.90 // a/b
	targetPassRatio   = 0.97 // c-with/c-without
	targetHeapMiB     = 50
	// targetObserveRatio is observe on over off, hijacked and pass-through.
	targetObserveRatio = 0.95
)

func main() {
	var o options
	flag.StringVar(&o.coredns, "coredns", "", "CoreDNS binary with egressoperator (default: bin/coredns)")
	flag.IntVar(&o.names, "names", 1000, "names per configuration")
	flag.IntVar(&o.heapServices, "heap-services", 10000, "ExternalServices loaded for the heap measurement")
	flag.IntVar(&o.rounds, "rounds", 9, "rounds of every configuration (at least 5 for a median worth reading)")
	flag.DurationVar(&o.duration, "duration", 2*time.Second, "length of one dnsperf run (whole seconds)")
	flag.IntVar(&o.clients, "clients", 4, "dnsperf clients (-c)")
	flag.IntVar(&o.outstanding, "outstanding", 100, "dnsperf queries outstanding (-q)")
	flag.StringVar(&o.profile, "profile", "", "after the rounds, write CPU profiles of CoreDNS serving (c) with and without egressoperator and (e), 10 s each, to PREFIX-c-with.pb.gz, PREFIX-c-without.pb.gz and PREFIX-e.pb.gz")
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
	profile             string
}

func run(o options) error {
	ctx := context.Background()
	if err := o.complete(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "egressgate-bench-dns-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	api, err := startAPIServer(ctx, o.names)
	if err != nil {
		return err
	}
	defer func() { _ = api.env.Stop() }()
	if err := writeFiles(dir, api.env.Config, o.names); err != nil {
		return err
	}
	s, err := startServers(ctx, o, dir)
	if err != nil {
		return err
	}
	defer s.stop()
	if err := waitNames(ctx, s.heapPlugin, o.names); err != nil {
		return err
	}

	configs, rs := configs(dir), ratios()
	if err := measure(ctx, s, dir, configs, rs, o); err != nil {
		return err
	}
	if o.profile != "" {
		for file, cfg := range map[string]*config{"c-with": configs[2], "c-without": configs[3], "e": configs[5]} {
			if err := profile(s, cfg, o, o.profile+"-"+file+".pb.gz"); err != nil {
				return err
			}
		}
	}
	s.stopRound()
	heap, err := measureHeap(ctx, api, s, o)
	if err != nil {
		return err
	}
	printTable(o, configs, rs)
	printHeap(o, heap)
	return nil
}

// complete checks that dnsperf is there, turns pinning off where it cannot
// work and finds bin/coredns when -coredns is not given.
func (o *options) complete() error {
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
		bin, err := dnsharness.CoreDNSBinary()
		if err != nil {
			return err
		}
		o.coredns = bin
	}
	return nil
}
