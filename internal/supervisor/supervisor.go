// Package supervisor runs the real programs egressgate is tested and
// measured against as child processes: the local cluster's components
// (internal/localcluster), CoreDNS with the plugin (internal/dnsharness)
// and the operator under benchmark (bench/controller). It starts a program
// with its output in a log file, waits until a caller's readiness check
// passes, and stops it: SIGTERM, then SIGKILL after a grace period. It
// knows nothing of what the programs are, and imports nothing of egressgate.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// pollInterval is how often WaitReady runs its check.
const pollInterval = 100 * time.Millisecond

// Spec is what to run and where its output goes.
type Spec struct {
	// Name names the process in errors.
	Name string
	// Path is the program.
	Path string
	// Args are its arguments, without the program's name.
	Args []string
	// Env is added to this process's environment.
	Env []string
	// Dir is the working directory; this process's when empty.
	Dir string
	// LogPath receives stdout and stderr, appended, so a program started
	// again keeps its earlier log. Its directory is created if missing.
	LogPath string
	// Launcher, when set, is a command that runs the program in its place
	// ("taskset -c 1", say). It must exec the program, so that the
	// process's PID stays the program's.
	Launcher []string
}

// Process is a running (or ended) child. It leads its own process group,
// so stopping it also stops anything it started, and it gets SIGKILL if
// this process dies first (Pdeathsig), so nothing outlives a test or a
// benchmark that is killed.
type Process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // how the process ended; set before done is closed
}

// Start runs spec's program and returns at once; use WaitReady to wait
// until it serves.
func Start(spec Spec) (*Process, error) {
	if spec.LogPath == "" {
		return nil, fmt.Errorf("start %s: no log path", spec.Name)
	}
	if err := os.MkdirAll(filepath.Dir(spec.LogPath), 0o755); err != nil {
		return nil, fmt.Errorf("start %s: create its log directory: %w", spec.Name, err)
	}
	logFile, err := os.OpenFile(spec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: open its log: %w", spec.Name, err)
	}
	argv := append(append(append([]string{}, spec.Launcher...), spec.Path), spec.Args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.Dir = spec.Dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	p := &Process{name: spec.Name, logPath: spec.LogPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Name is the name the process was started with.
func (p *Process) Name() string { return p.name }

// Pid is the process ID, which is also its process group ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// LogPath is the file the process writes its output to.
func (p *Process) LogPath() string { return p.logPath }

// Output is the content of the process's log so far.
func (p *Process) Output() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s's log: %v)", p.name, err)
	}
	return string(b)
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended and, if it has, an error
// saying how (even a zero exit status: these programs are meant to keep
// running) and naming its log.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		if p.err == nil {
			return true, fmt.Errorf("%s exited (log: %s)", p.name, p.logPath)
		}
		return true, fmt.Errorf("%s exited: %w (log: %s)", p.name, p.err, p.logPath)
	default:
		return false, nil
	}
}

// WaitReady runs ready every 100 ms until it returns nil, the process
// exits, ctx ends or timeout passes; ready gets a context bounded by both.
func (p *Process) WaitReady(ctx context.Context, timeout time.Duration, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if dead, err := p.Exited(); dead {
			return err
		}
		if last = ready(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %w (log: %s)", p.name, timeout, last, p.logPath)
		case <-p.done:
		case <-time.After(pollInterval):
		}
	}
}

// Stop sends SIGTERM to the process group, then SIGKILL after grace, and
// returns once the process has exited. Anything it started in its group
// goes too. Stopping an ended process does nothing.
func (p *Process) Stop(grace time.Duration) error {
	if ended, _ := p.Exited(); ended {
		return nil
	}
	pgid := p.Pid()
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s's process group: %w", p.name, err)
	}
	return nil
}

// Kill ends the process and its group at once with SIGKILL, as when a
// machine dies, and returns once it has exited.
func (p *Process) Kill() {
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	<-p.done
}

// FreePort returns a port that is free on 127.0.0.1 for both TCP and UDP
// (a DNS server needs both), for a child to listen on.
func FreePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		_ = l.Close()
		if err == nil {
			_ = u.Close()
			return port, nil
		}
	}
	return 0, errors.New("find a free port: no port free for both TCP and UDP")
}
