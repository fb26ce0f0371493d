package embedded

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/egressgate/egressgate/internal/localcluster"
)

// replica is one operator process, restarted when it dies unless stopped.
type replica struct {
	name        string
	metricsAddr string
	start       func() (*localcluster.Component, error)

	mu      sync.Mutex
	current *localcluster.Component
	paused  bool
	done    chan struct{}
}

// resume starts the replica and keeps it running: when it exits it is
// started again after restartDelay, until stop or pause.
func (r *replica) resume() error {
	c, err := r.start()
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.current, r.paused, r.done = c, false, make(chan struct{})
	done := r.done
	r.mu.Unlock()
	go func() {
		defer close(done)
		for {
			<-c.Done()
			time.Sleep(restartDelay)
			r.mu.Lock()
			if r.paused {
				r.mu.Unlock()
				return
			}
			next, err := r.start()
			if err != nil {
				r.mu.Unlock()
				fmt.Fprintf(os.Stderr, "operator replica %s stays down: %v\n", r.name, err)
				return
			}
			r.current, c = next, next
			r.mu.Unlock()
		}
	}()
	return nil
}

// kill ends the replica at once and keeps it down until resume.
func (r *replica) kill() {
	r.mu.Lock()
	r.paused = true
	c, done := r.current, r.done
	r.mu.Unlock()
	c.Kill()
	<-done
}

// down reports whether the replica is stopped and unsupervised.
func (r *replica) down() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.paused
}

// stop ends the replica and its supervision.
func (r *replica) stop() {
	r.mu.Lock()
	r.paused = true
	c, done := r.current, r.done
	r.mu.Unlock()
	if c == nil {
		return
	}
	_ = c.Stop()
	<-done
}

// metrics scrapes the replica's Prometheus endpoint and sums each metric
// over the series whose labels contain match.
func (r *replica) metrics(ctx context.Context, match string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.metricsAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sums := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, "{")
		if !ok || strings.HasPrefix(line, "#") || !strings.Contains(rest, match) {
			continue
		}
		var v float64
		if _, err := fmt.Sscanf(rest[strings.LastIndex(rest, " ")+1:], "%g", &v); err == nil {
			sums[name] += v
		}
	}
	return sums, sc.Err()
}

// isLeader reads the replica's leader_election_master_status metric.
func (r *replica) isLeader(ctx context.Context) bool {
	m, err := r.metrics(ctx, LeaseName)
	return err == nil && m["leader_election_master_status"] == 1
}

func (h *Harness) waitForLeader(ctx context.Context) (*replica, error) {
	ctx, cancel := context.WithTimeout(ctx, leaderTimeout)
	defer cancel()
	for {
		for _, r := range h.replicas {
			if !r.down() && r.isLeader(ctx) {
				return r, nil
			}
		}
		select {
		case <-ctx.Done():
			var logs []string
			for _, r := range h.replicas {
				logs = append(logs, r.name+":\n"+tail(filepath.Join(h.Cluster.Dir, "logs", r.name+".log"), 20))
			}
			return nil, fmt.Errorf("no operator replica became leader within %s; the end of their logs:\n%s", leaderTimeout, strings.Join(logs, "\n"))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// tail is the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
