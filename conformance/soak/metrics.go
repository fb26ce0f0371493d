package soak

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Growth: the operator's and CoreDNS's heap, goroutines and open file
// descriptors, read from their Prometheus endpoints at a quiet moment (no
// disruption, churn paused) in the second minute and at the end. A leak
// shows as growth between the two; these margins are what normal variation
// stays within.
const (
	// Heap: live heap after the last GC (go_gc_heap_live_bytes) when
	// exposed, else heap in use, the minimum of several readings. The
	// larger of +25% (informer caches grow with the objects' sizes, which
	// churn changes a little) and +16 MiB (a small heap moves by a few MiB
	// with GC timing and allocation pools).
	heapGrowthRatio = 1.25
	heapGrowthFloor = 16 << 20
	// Goroutines: +20%, and at least +10 (watches reconnecting, requests
	// in flight at the moment of reading).
	goroutineGrowthRatio = 1.20
	goroutineGrowthFloor = 10
	// Open file descriptors: +20 (connections to the API server and
	// clients come and go; a leak grows with every reconnect or query).
	fdGrowth = 20
)

// quietReadings is how many readings, a second apart, make one sample.
const quietReadings = 5

// Sample is a reading of one process, the minimum of quietReadings.
type Sample struct {
	At time.Time
	// Heap is in bytes, read from HeapMetric.
	Heap       float64
	HeapMetric string
	Goroutines float64
	FDs        float64
	// Start is process_start_time_seconds: which process was read.
	Start float64
}

// scrape reads the unlabelled metrics of a Prometheus endpoint.
func scrape(ctx context.Context, addr string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read the metrics at %s: %w", addr, err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

// sample reads the process at addr quietReadings times and keeps the
// minimum of each figure. addr is asked each time, as the operator's leader
// may change.
func sample(ctx context.Context, addr func(context.Context) (string, error)) (Sample, error) {
	var s Sample
	for i := range quietReadings {
		if i > 0 {
			time.Sleep(time.Second)
		}
		a, err := addr(ctx)
		if err != nil {
			return s, err
		}
		m, err := scrape(ctx, a)
		if err != nil {
			return s, err
		}
		heap, metric := m["go_gc_heap_live_bytes"], "go_gc_heap_live_bytes"
		if heap == 0 {
			heap, metric = m["go_memstats_heap_inuse_bytes"], "go_memstats_heap_inuse_bytes"
		}
		if i == 0 || heap < s.Heap {
			s.Heap, s.HeapMetric = heap, metric
		}
		if i == 0 || m["go_goroutines"] < s.Goroutines {
			s.Goroutines = m["go_goroutines"]
		}
		if i == 0 || m["process_open_fds"] < s.FDs {
			s.FDs = m["process_open_fds"]
		}
		s.Start = m["process_start_time_seconds"]
	}
	s.At = time.Now()
	return s, nil
}

// growthViolations compares an end sample with a baseline of the same
// process and names each figure that grew beyond its margin.
func growthViolations(what string, base, end Sample) []string {
	var out []string
	if limit := max(base.Heap*heapGrowthRatio, base.Heap+heapGrowthFloor); end.Heap > limit {
		out = append(out, fmt.Sprintf("%s heap (%s) grew from %.1f MiB to %.1f MiB, more than the margin (+25%% or +16 MiB: %.1f MiB)",
			what, end.HeapMetric, base.Heap/(1<<20), end.Heap/(1<<20), limit/(1<<20)))
	}
	if limit := max(base.Goroutines*goroutineGrowthRatio, base.Goroutines+goroutineGrowthFloor); end.Goroutines > limit {
		out = append(out, fmt.Sprintf("%s goroutines grew from %.0f to %.0f, more than the margin (+20%% or +10: %.0f)",
			what, base.Goroutines, end.Goroutines, limit))
	}
	if limit := base.FDs + fdGrowth; end.FDs > limit {
		out = append(out, fmt.Sprintf("%s open file descriptors grew from %.0f to %.0f, more than the margin (+%d)",
			what, base.FDs, end.FDs, fdGrowth))
	}
	return out
}
