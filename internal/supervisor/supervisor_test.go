package supervisor_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/egressgate/egressgate/internal/supervisor"
)

// shell starts sh -c script with its log in a temporary directory.
func shell(t *testing.T, script string, launcher ...string) *supervisor.Process {
	t.Helper()
	p, err := supervisor.Start(supervisor.Spec{
		Name: "sh", Path: "/bin/sh", Args: []string{"-c", script},
		LogPath:  filepath.Join(t.TempDir(), "logs", "sh.log"),
		Launcher: launcher,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

func TestOutputGoesToTheLog(t *testing.T) {
	p := shell(t, "echo out; echo err >&2")
	<-p.Done()
	if out := p.Output(); !strings.Contains(out, "out\n") || !strings.Contains(out, "err\n") {
		t.Errorf("log holds %q, want both lines", out)
	}
	if ended, err := p.Exited(); !ended || err == nil || !strings.Contains(err.Error(), p.LogPath()) {
		t.Errorf("Exited() = %v, %v; want true and an error naming the log", ended, err)
	}
}

func TestWaitReady(t *testing.T) {
	ctx := context.Background()
	t.Run("ready", func(t *testing.T) {
		p := shell(t, "sleep 30")
		calls := 0
		err := p.WaitReady(ctx, 10*time.Second, func(context.Context) error {
			if calls++; calls < 3 {
				return errors.New("not yet")
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Errorf("WaitReady = %v after %d checks; want nil after 3", err, calls)
		}
	})
	t.Run("exits first", func(t *testing.T) {
		p := shell(t, "exit 3")
		err := p.WaitReady(ctx, 10*time.Second, func(context.Context) error { return errors.New("never") })
		if err == nil || !strings.Contains(err.Error(), "exit status 3") {
			t.Errorf("WaitReady = %v; want the exit status", err)
		}
	})
	t.Run("times out", func(t *testing.T) {
		p := shell(t, "sleep 30")
		err := p.WaitReady(ctx, 300*time.Millisecond, func(context.Context) error { return errors.New("never") })
		if err == nil || !strings.Contains(err.Error(), "not ready after") || !strings.Contains(err.Error(), "never") {
			t.Errorf("WaitReady = %v; want not ready, with the last check's error", err)
		}
	})
}

// TestStopReachesTheGroup: SIGTERM ends the process and what it started;
// a process that ignores SIGTERM gets SIGKILL after the grace period.
func TestStopReachesTheGroup(t *testing.T) {
	for _, c := range []struct {
		name, script string
	}{
		{"SIGTERM", "sleep 30 & echo $! > child; wait"},
		{"SIGKILL after grace", "trap '' TERM; sleep 30 & echo $! > child; while :; do wait; done"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p, err := supervisor.Start(supervisor.Spec{
				Name: "sh", Path: "/bin/sh", Args: []string{"-c", c.script}, Dir: dir,
				LogPath: filepath.Join(dir, "sh.log"),
			})
			if err != nil {
				t.Fatal(err)
			}
			child := waitFile(t, filepath.Join(dir, "child"))
			if err := p.Stop(500 * time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if ended, _ := p.Exited(); !ended {
				t.Error("Stop returned before the process exited")
			}
			waitGone(t, child)
			if err := p.Stop(time.Second); err != nil {
				t.Errorf("second Stop: %v", err)
			}
		})
	}
}

func TestLauncherKeepsThePid(t *testing.T) {
	p := shell(t, "echo $$; sleep 30", "env", "X=1")
	pid := strings.TrimSpace(waitOutput(t, p))
	if want := strconv.Itoa(p.Pid()); pid != want {
		t.Errorf("the program's PID is %s, Pid() says %s", pid, want)
	}
}

func TestFreePort(t *testing.T) {
	port, err := supervisor.FreePort()
	if err != nil || port <= 0 {
		t.Fatalf("FreePort() = %d, %v", port, err)
	}
}

func waitFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && strings.HasSuffix(string(b), "\n") {
			return strings.TrimSpace(string(b))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s not written", path)
	return ""
}

func waitOutput(t *testing.T, p *supervisor.Process) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if out := p.Output(); strings.HasSuffix(out, "\n") {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s wrote nothing", p.Name())
	return ""
}

// waitGone waits until pid no longer exists or is a zombie: SIGKILL is
// delivered at once, but the kernel ends a process a moment later.
func waitGone(t *testing.T, pid string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return
		}
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && len(b) > i+2 && b[i+2] == 'Z' {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("the process's child %s outlived Stop", pid)
}
