package localcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/egressgate/egressgate/internal/supervisor"
)

// start runs bin with args, logging to <Dir>/logs/<name>.log (appended to,
// so a component started again keeps its earlier log), and adds it to the
// components Stop ends.
func (c *Cluster) start(name, bin string, args, env []string, workDir string) (*supervisor.Process, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s: %s is missing: run 'make tools' first", name, bin)
	}
	p, err := supervisor.Start(supervisor.Spec{
		Name: name, Path: bin, Args: args, Env: env, Dir: workDir,
		LogPath: filepath.Join(c.Dir, "logs", name+".log"),
	})
	if err != nil {
		return nil, err
	}
	c.procsMu.Lock()
	defer c.procsMu.Unlock()
	// Forget components that have exited (restarted ones come back as new
	// entries), so the list does not grow with every restart.
	c.procs = slices.DeleteFunc(c.procs, func(q *supervisor.Process) bool { dead, _ := q.Exited(); return dead })
	c.procs = append(c.procs, p)
	return p, nil
}

func itoa(i int) string { return strconv.Itoa(i) }

// Component is a process a caller started next to the cluster with
// StartComponent; Stop ends it with the cluster.
type Component struct{ p *supervisor.Process }

// StartComponent runs bin/<binary> with args and env in the cluster's
// directory, logging to logs/<name>.log (appended to if it exists).
func (c *Cluster) StartComponent(name, binary string, args, env []string) (*Component, error) {
	return c.StartProgram(name, c.bin(binary), args, env)
}

// StartProgram is StartComponent for a binary at any path, such as one
// unpacked from an image.
func (c *Cluster) StartProgram(name, path string, args, env []string) (*Component, error) {
	p, err := c.start(name, path, args, env, c.Dir)
	if err != nil {
		return nil, err
	}
	return &Component{p: p}, nil
}

// Done is closed when the process has exited.
func (c *Component) Done() <-chan struct{} { return c.p.Done() }

// Kill ends the process and its group at once, with SIGKILL, as when a
// node dies.
func (c *Component) Kill() { c.p.Kill() }

// Stop ends the process with SIGTERM, then SIGKILL after a grace period.
func (c *Component) Stop() error { return c.p.Stop(stopGrace) }

// LogPath is where the process logs.
func (c *Component) LogPath() string { return c.p.LogPath() }
