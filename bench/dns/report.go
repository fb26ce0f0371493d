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

func printTable(o options, configs []*config, rs []*ratio) {
	fmt.Println()
	pinned := "CoreDNS and dnsperf share the CPUs"
	if o.pin {
		pinned = "CoreDNS pinned to CPU 1 with GOMAXPROCS=1, dnsperf to CPU 0"
	}
	fmt.Printf("DNS benchmark: %d names, %d rounds of paired runs × %s, medians\n", o.names, o.rounds, o.duration)
	fmt.Printf("(a fresh bin/coredns process every round, one server block per configuration, blocks rotated; dnsperf -c %d -q %d over UDP; %s)\n", o.clients, o.outstanding, pinned)
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
	for _, rt := range rs {
		p := median(rt.paired)
		fmt.Printf("%-36s = %.3f (target ≥ %.2f: %s); by CPU per query, paired alike, %.3f; ratio of the medians above %.3f, by CPU %.3f\n",
			rt.name, p, rt.target, verdict(p >= rt.target), median(rt.pairedCPU), qps[rt.x]/qps[rt.y], cpu[rt.y]/cpu[rt.x])
	}
	fmt.Println("(Each ratio is the median over rounds of (x₁+x₂)/(y₁+y₂), from runs x, y, y, x made back to back")
	fmt.Println("in one CoreDNS process, so that the machine's drifting speed cancels out; throughput on a shared")
	fmt.Println("machine moves by 25% within a minute. Every round is a fresh process with the blocks rotated, since")
	fmt.Println("blocks of one process differ by up to 5% for the same work. CPU/query is CoreDNS's own CPU time per")
	fmt.Println("answered query; its paired ratio is the median of (y₁+y₂)/(x₁+x₂) over the same runs. The ratios")
	fmt.Println("of the medians mix runs of different rounds and pairings, so the machine's drift stays in them.)")
	fmt.Println("(With observe on, every query is recorded; dnsperf sends from 127.0.0.1, which no pod has, so")
	fmt.Println("each is attributed to an Unknown source, remembered per address after the first.)")
}
