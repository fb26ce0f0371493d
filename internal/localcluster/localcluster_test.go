package localcluster_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/egressgate/egressgate/internal/localcluster"
)

const (
	podReadyTimeout = 60 * time.Second
	exitTimeout     = 30 * time.Second
)

// childEnv makes this test binary act as a program that starts a cluster,
// prints its component PIDs and waits to be stopped.
const childEnv = "LOCALCLUSTER_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

func runChild() int {
	ctx, stop := signalContext()
	defer stop()
	c, err := localcluster.Start(ctx, localcluster.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("pids %s\n", strings.Trim(fmt.Sprint(c.PIDs()), "[]"))
	<-ctx.Done()
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestPodsBecomeReadyOnTheFakeNode: the scheduler places a Deployment's pod
// on the kwok node, which makes it Ready with a loopback pod IP.
func TestPodsBecomeReadyOnTheFakeNode(t *testing.T) {
	ctx := context.Background()
	c, err := localcluster.Start(ctx, localcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	}()
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: localcluster.GatewayNamespace},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "example/web"}}},
			},
		},
	}
	if err := c.Client.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(podReadyTimeout)
	for {
		var pods corev1.PodList
		if err := c.Client.List(ctx, &pods, client.InNamespace(localcluster.GatewayNamespace), client.MatchingLabels(labels)); err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) == 1 && podReady(&pods.Items[0]) {
			p := pods.Items[0]
			if p.Spec.NodeName != localcluster.NodeName || !strings.HasPrefix(p.Status.PodIP, "198.18.") {
				t.Errorf("pod on node %q with IP %q, want %s and an IP in %s", p.Spec.NodeName, p.Status.PodIP, localcluster.NodeName, localcluster.PodCIDR)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Ready pod after %s (logs in %s/logs)", podReadyTimeout, c.Dir)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := c.Client.Get(ctx, client.ObjectKeyFromObject(dep), dep); err != nil {
		t.Fatal(err)
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// TestNoOrphansAfterInterruptOrKill starts a cluster in a child process and
// ends that process the two ways a person does: Ctrl-C (SIGINT) and kill -9.
// No component may outlive it either way.
func TestNoOrphansAfterInterruptOrKill(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"=1")
			cmd.Stderr = os.Stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pids, err := readPIDs(stdout)
			if err != nil {
				_ = cmd.Process.Kill()
				t.Fatal(err)
			}
			if len(pids) < 5 {
				t.Fatalf("child reported %d component processes, want 5", len(pids))
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			deadline := time.Now().Add(exitTimeout)
			for {
				alive := alivePIDs(pids)
				if len(alive) == 0 {
					return
				}
				if time.Now().After(deadline) {
					for _, pid := range alive {
						_ = syscall.Kill(-pid, syscall.SIGKILL)
					}
					t.Fatalf("after %s, components %v outlived their parent", sig, alive)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

func readPIDs(r interface{ Read([]byte) (int, error) }) ([]int, error) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		rest, ok := strings.CutPrefix(s.Text(), "pids ")
		if !ok {
			continue
		}
		var pids []int
		for _, f := range strings.Fields(rest) {
			n, err := strconv.Atoi(f)
			if err != nil {
				return nil, err
			}
			pids = append(pids, n)
		}
		return pids, nil
	}
	return nil, errors.New("the child exited without starting a cluster")
}

// alivePIDs lists the pids that still exist and are not zombies.
func alivePIDs(pids []int) []int {
	var alive []int
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The state follows the parenthesised command name.
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && len(b) > i+2 && b[i+2] == 'Z' {
			continue
		}
		alive = append(alive, pid)
	}
	return alive
}
