package main

import (
	"context"
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

// config is one measured configuration: a block's role and the names
// asked.
type config struct {
	label   string
	role    int
	queries string // dnsperf data file
	results []result
}

type result struct {
	qps, latency float64 // queries per second, average latency in seconds
	cpu          float64 // CoreDNS CPU time per completed query, in seconds
}

// configs are the measured configurations, in the table's order; the
// printed ratios index into it.
func configs(dir string) []*config {
	return []*config{
		{label: "(a) egressoperator, hijacked names", role: rolePlugin, queries: filepath.Join(dir, "queries.hijacked")},
		{label: "(b) hosts, the same names", role: roleHostsHijacked, queries: filepath.Join(dir, "queries.hijacked")},
		{label: "(c) pass-through, with egressoperator", role: rolePlugin, queries: filepath.Join(dir, "queries.pass")},
		{label: "(c) pass-through, without", role: roleHostsPass, queries: filepath.Join(dir, "queries.pass")},
		{label: "(d) observe on, hijacked names", role: roleObserve, queries: filepath.Join(dir, "queries.hijacked")},
		{label: "(e) observe on, pass-through", role: roleObserve, queries: filepath.Join(dir, "queries.pass")},
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
	// cancels out. pairedCPU is the same for CPU time per query, y over x
	// (less CPU per query is faster).
	paired, pairedCPU []float64
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

// measure runs, every round, in a fresh process under test, each
// comparison's two configurations in the order x, y, y, x, and keeps every
// result (a configuration in two comparisons runs in both).
func measure(ctx context.Context, s *servers, dir string, configs []*config, rs []*ratio, o options) error {
	fmt.Printf(">> %d rounds of %d comparisons, each x y y x, %s per run (dnsperf -c %d -q %d), a fresh process every round\n",
		o.rounds, len(rs), o.duration, o.clients, o.outstanding)
	for r := range o.rounds {
		if err := s.startRound(ctx, o, dir, r); err != nil {
			return err
		}
		for _, rt := range rs {
			var sums, cpu [2]float64
			for i, which := range []int{rt.x, rt.y, rt.y, rt.x} {
				cfg := configs[which]
				res, err := dnsperf(s.underTest[cfg.role], cfg, o)
				if err != nil {
					return err
				}
				cfg.results = append(cfg.results, res)
				sums[min(i, 3-i)] += res.qps // runs 0 and 3 are x, 1 and 2 are y
				cpu[min(i, 3-i)] += res.cpu
				fmt.Printf("   round %2d  %-40s %8.0f qps  %8.1f µs latency  %6.2f µs CPU/query\n",
					r+1, cfg.label, res.qps, res.latency*1e6, res.cpu*1e6)
			}
			rt.paired = append(rt.paired, sums[0]/sums[1])
			rt.pairedCPU = append(rt.pairedCPU, cpu[1]/cpu[0])
		}
	}
	return nil
}

// profile writes to file a CPU profile of the process under test while
// dnsperf loads cfg for 10 s: where the time of a configuration goes.
func profile(s *servers, cfg *config, o options, file string) error {
	srv := s.underTest[cfg.role]
	done := make(chan error, 1)
	go func() {
		o := o
		o.duration = 10 * time.Second
		_, err := dnsperf(srv, cfg, o)
		done <- err
	}()
	time.Sleep(time.Second)
	body, err := get(srv.pprof + "/profile?seconds=8")
	if err := errors.Join(err, <-done); err != nil {
		return fmt.Errorf("profile %s: %w", cfg.label, err)
	}
	fmt.Printf(">> CPU profile of %s written to %s\n", cfg.label, file)
	return os.WriteFile(file, []byte(body), 0o644)
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
func dnsperf(srv *server, cfg *config, o options) (result, error) {
	args := []string{
		"-s", "127.0.0.1", "-p", strconv.Itoa(srv.port), "-d", cfg.queries,
		"-l", strconv.Itoa(int(o.duration.Seconds())), "-c", strconv.Itoa(o.clients),
		"-q", strconv.Itoa(o.outstanding), "-T", "1",
	}
	cmd := exec.Command("dnsperf", args...)
	if o.pin {
		cmd = exec.Command("taskset", append([]string{"-c", "0", "dnsperf"}, args...)...)
	}
	cpuBefore, err := cpuTime(srv.proc.Pid())
	if err != nil {
		return result{}, err
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("dnsperf %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	text := string(out)
	cpuAfter, err := cpuTime(srv.proc.Pid())
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
