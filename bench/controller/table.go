package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// results is one run of the three sides.
type results struct {
	n                int
	l1, l2, a        time.Duration
	writes           writes  // per ExternalService, at creation
	passes, requests float64 // per ExternalService, at creation
	noopWrites       float64
	// The no-op pass's seconds from the restart until idle (waiting for
	// idleness included) and its API requests per ExternalService.
	noopSeconds, noopRequests float64
	peakRSS                   int64
	consistencyWait           float64 // seconds the operator's reads waited for its own writes, summed
}

// row is one line of the table: how to read a measure off a run, how to
// print it, and its target.
type row struct {
	name, format, target string
	value                func(results) float64
	met                  func(v float64) bool
}

func rows(n int) []row {
	ratio := func(a, b time.Duration) float64 {
		if b == 0 {
			return math.NaN() // -skip-limits
		}
		return a.Seconds() / b.Seconds()
	}
	return []row{
		{name: "(L1) 8 workers, POST: seconds", format: "%.1f", value: func(r results) float64 { return r.l1.Seconds() }},
		{name: "(L2) 8 workers, server-side apply: seconds", format: "%.1f", value: func(r results) float64 { return r.l2.Seconds() }},
		{name: "(a) operator: seconds until every child and status exists", format: "%.1f", value: func(r results) float64 { return r.a.Seconds() }},
		{name: "a/L2", format: "%.2f", target: "<= 1.25", value: func(r results) float64 { return ratio(r.a, r.l2) }, met: func(v float64) bool { return v <= 1.25 }},
		{name: "a/L1", format: "%.2f", value: func(r results) float64 { return ratio(r.a, r.l1) }},
		{name: "writes per ExternalService at creation", format: "%.2f", target: fmt.Sprintf("<= %d", childrenPerService+1),
			value: func(r results) float64 { return r.writes.total() }, met: func(v float64) bool { return v <= childrenPerService+1 }},
		{name: "  of which children", format: "%.2f", value: func(r results) float64 { return r.writes.children }},
		{name: "  of which status", format: "%.2f", value: func(r results) float64 { return r.writes.status }},
		{name: "  of which other (finalizer, deletes)", format: "%.2f", value: func(r results) float64 { return r.writes.other }},
		{name: "reconcile passes per ExternalService", format: "%.2f", value: func(r results) float64 { return r.passes }},
		{name: "API requests per ExternalService", format: "%.2f", value: func(r results) float64 { return r.requests }},
		{name: "seconds reads waited for the operator's own writes (sum)", format: "%.0f", value: func(r results) float64 { return r.consistencyWait }},
		{name: "writes, no-op pass over all", format: "%.0f", target: "0", value: func(r results) float64 { return r.noopWrites }, met: func(v float64) bool { return v == 0 }},
		{name: "  its seconds, restart to idle", format: "%.1f", value: func(r results) float64 { return r.noopSeconds }},
		{name: "  its API requests per ExternalService", format: "%.2f", value: func(r results) float64 { return r.noopRequests }},
		{name: "operator peak RSS (MiB)", format: "%.1f", target: "<= 250",
			value: func(r results) float64 { return float64(r.peakRSS) / (1 << 20) }, met: func(v float64) bool { return v <= 250 }},
	}
}

// printTable prints every run and the median of each measure.
func printTable(all []results) {
	n := all[0].n
	fmt.Printf("\ncontroller benchmark: %d ExternalServices (TLS 443 + TCP 22), %d children each, %d clients, each side on a fresh API server\n\n", n, childrenPerService, clients)
	head := []string{"measure"}
	for i := range all {
		head = append(head, fmt.Sprintf("run %d", i+1))
	}
	head = append(head, "median", "target", "")
	fmt.Printf("| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
	for _, rw := range rows(n) {
		cells := []string{rw.name}
		var vals []float64
		for _, r := range all {
			v := rw.value(r)
			vals = append(vals, v)
			cells = append(cells, cell(rw.format, v))
		}
		med := median(vals)
		verdict := ""
		if rw.met != nil && !math.IsNaN(med) {
			verdict = "MISSED"
			if rw.met(med) {
				verdict = "met"
			}
		}
		cells = append(cells, cell(rw.format, med), rw.target, verdict)
		fmt.Printf("| %s |\n", strings.Join(cells, " | "))
	}
}

// cell formats v, or n/a for a ratio to a limit that was not run.
func cell(format string, v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf(format, v)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
