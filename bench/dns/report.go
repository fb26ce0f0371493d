package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The heap measurement and the printed results.

// heap is what measureHeap read: HeapAlloc after a garbage collection, in
// bytes.
type heap struct {
	before   uint64 // the server with egressoperator, o.names ExternalServices
	baseline uint64 // CoreDNS without egressoperator
	after    uint64 // the server with egressoperator, o.heapServices ExternalServices
}

// measureHeap reads the heaps with o.names ExternalServices, loads the
// rest up to o.heapServices and reads the plugin's server again.
func measureHeap(ctx context.Context, api *apiServer, s *servers, o options) (heap, error) {
	var h heap
	var err error
	if h.before, err = heapAlloc(s.heapPlugin); err != nil {
		return h, err
	}
	if h.baseline, err = heapAlloc(s.heapBaseline); err != nil {
		return h, err
	}
	fmt.Printf(">> creating %d more ExternalServices (%d in all)\n", o.heapServices-o.names, o.heapServices)
	start := time.Now()
	if err := createHijacked(ctx, api.client, o.names, o.heapServices); err != nil {
		return h, err
	}
	if err := waitNames(ctx, s.heapPlugin, o.heapServices); err != nil {
		return h, err
	}
	fmt.Printf("   created and in the plugin's table in %.1f s\n", time.Since(start).Seconds())
	h.after, err = heapAlloc(s.heapPlugin)
	return h, err
}

func printHeap(o options, h heap) {
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	fmt.Println()
	fmt.Printf("Heap after GC (HeapAlloc), CoreDNS with egressoperator, %d ExternalServices: %.1f MiB (target: plugin ≤ %d MiB)\n",
		o.heapServices, mib(h.after), targetHeapMiB)
	fmt.Printf("  same process with %d ExternalServices:                   %.1f MiB\n", o.names, mib(h.before))
	fmt.Printf("  CoreDNS without egressoperator (hosts, %d names):         %.1f MiB\n", o.names, mib(h.baseline))
	fmt.Printf("  plugin's share with %d ExternalServices (difference):   %.1f MiB\n", o.heapServices, mib(h.after)-mib(h.baseline))
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
	da, ec := qps[4]/qps[0], qps[5]/qps[2]
	fmt.Printf("observe on/off, hijacked     (d/a) = %.3f (target ≥ %.2f: %s); median of per-round ratios %.3f\n",
		da, targetObserveRatio, verdict(da >= targetObserveRatio), pairedRatio(configs[4], configs[0]))
	fmt.Printf("observe on/off, pass-through (e/c) = %.3f (target ≥ %.2f: %s); median of per-round ratios %.3f\n",
		ec, targetObserveRatio, verdict(ec >= targetObserveRatio), pairedRatio(configs[5], configs[2]))
	fmt.Println("(With observe on, every query is recorded; dnsperf sends from 127.0.0.1, which no pod has, so")
	fmt.Println("each is attributed to an Unknown source after a miss in the pod cache.)")
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
