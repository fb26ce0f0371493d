package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The timed part: dnsperf against each configuration, interleaved.

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

// configs are the measured configurations, in the table's order; the
// printed ratios index into it.
func (s *servers) configs(dir string) []*config {
	return []*config{
		{label: "(a) egressoperator, hijacked names", server: s.plugin, queries: filepath.Join(dir, "queries.hijacked")},
		{label: "(b) hosts, the same names", server: s.hostsHijacked, queries: filepath.Join(dir, "queries.hijacked")},
		{label: "(c) pass-through, with egressoperator", server: s.plugin, queries: filepath.Join(dir, "queries.pass")},
		{label: "(c) pass-through, without", server: s.hostsPass, queries: filepath.Join(dir, "queries.pass")},
		{label: "(d) observe on, hijacked names", server: s.observe, queries: filepath.Join(dir, "queries.hijacked")},
		{label: "(e) observe on, pass-through", server: s.observe, queries: filepath.Join(dir, "queries.pass")},
	}
}

// ratio is one comparison the benchmark makes: x's throughput over y's,
// configurations by index into configs.
type ratio struct {
	name   string
	x, y   int
	target float64
	// paired holds, per round, (x₁+x₂)/(y₁+y₂) of the runs x, y, y, x made
	// back to back: drift of the machine's speed during the four runs
	// cancels out.
	paired []float64
}

// ratios are the comparisons, in the order they are printed.
func ratios() []*ratio {
	return []*ratio{
		{name: "a/b", x: 0, y: 1, target: targetHijackRatio},
		{name: "c-with/c-without", x: 2, y: 3, target: targetPassRatio},
		{name: "observe on/off, hijacked (d/a)", x: 4, y: 0, target: targetObserveRatio},
		{name: "observe on/off, pass-through (e/c)", x: 5, y: 2, target: targetObserveRatio},
	}
}

// measure runs, every round, each comparison's two configurations in the
// order x, y, y, x, and keeps every result (a configuration in two
// comparisons runs in both).
func measure(configs []*config, rs []*ratio, o options) error {
	fmt.Printf(">> %d rounds of %d comparisons, each x y y x, %s per run (dnsperf -c %d -q %d)\n",
		o.rounds, len(rs), o.duration, o.clients, o.outstanding)
	for r := range o.rounds {
		for _, rt := range rs {
			var sums [2]float64
			for i, which := range []int{rt.x, rt.y, rt.y, rt.x} {
				cfg := configs[which]
				res, err := dnsperf(cfg, o)
				if err != nil {
					return err
				}
				cfg.results = append(cfg.results, res)
				sums[min(i, 3-i)] += res.qps // runs 0 and 3 are x, 1 and 2 are y
				fmt.Printf("   round %2d  %-40s %8.0f qps  %8.1f µs latency  %6.2f µs CPU/query\n",
					r+1, cfg.label, res.qps, res.latency*1e6, res.cpu*1e6)
			}
			rt.paired = append(rt.paired, sums[0]/sums[1])
		}
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
