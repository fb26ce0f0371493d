package localcluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// process is one component of the cluster, running in its own process
// group so that it and anything it starts can be stopped together.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // set when done is closed
}

// startProcess runs bin with args, logging to <dir>/logs/<name>.log. The
// child dies with this process even if it is killed (Pdeathsig), and lives
// in its own process group, so Stop reaches its children too.
func startProcess(dir, name, bin string, args, env []string, workDir string) (*process, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s: %s is missing: run 'make tools' first", name, bin)
	}
	logDir := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, name+".log")
	// Append: a component started again keeps its earlier log.
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = workDir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended, and how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		if p.err == nil {
			return true, fmt.Errorf("%s exited (log: %s)", p.name, p.logPath)
		}
		return true, fmt.Errorf("%s exited: %v (log: %s)", p.name, p.err, p.logPath)
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *process) stop(grace time.Duration) error {
	if ok, _ := p.exited(); ok {
		return nil
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Anything the component started in its group goes too.
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s's process group: %w", p.name, err)
	}
	return nil
}

// Pid is the process ID, which is also its process group ID.
func (p *process) Pid() int { return p.cmd.Process.Pid }

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func itoa(i int) string { return strconv.Itoa(i) }

// Component is a process a caller started next to the cluster with
// StartComponent; Stop ends it with the cluster.
type Component struct{ p *process }

// StartComponent runs bin/<binary> with args and env in the cluster's
// directory, logging to logs/<name>.log (appended to if it exists).
func (c *Cluster) StartComponent(name, binary string, args, env []string) (*Component, error) {
	p, err := c.start(name, c.bin(binary), args, env, c.Dir)
	if err != nil {
		return nil, err
	}
	return &Component{p: p}, nil
}

// Done is closed when the process has exited.
func (c *Component) Done() <-chan struct{} { return c.p.done }

// Kill ends the process and its group at once, with SIGKILL, as when a
// node dies.
func (c *Component) Kill() {
	_ = syscall.Kill(-c.p.Pid(), syscall.SIGKILL)
	<-c.p.done
}

// Stop ends the process with SIGTERM, then SIGKILL after a grace period.
func (c *Component) Stop() error { return c.p.stop(stopGrace) }

// LogPath is where the process logs.
func (c *Component) LogPath() string { return c.p.logPath }
