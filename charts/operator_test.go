package charts

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/egressgate/egressgate/internal/localcluster"
	"github.com/egressgate/egressgate/internal/ociimage"
)

// operatorImage builds the egress-operator image for linux/amd64 as `make
// images` does, unpacks it, and returns its entrypoint: the binary a
// cluster would run.
func operatorImage(t *testing.T) []string {
	t.Helper()
	img, err := ociimage.Lookup("egress-operator")
	if err != nil {
		t.Fatal(err)
	}
	meta := ociimage.Metadata{Version: "v0.1.0-chart-test", Commit: strings.Repeat("0", 40), Created: time.Unix(0, 0).UTC()}
	dir := t.TempDir()
	bins, err := ociimage.GoBuild(context.Background(), "..", "linux/amd64", filepath.Join(dir, "build"), ociimage.VersionLDFlags(meta.Version, meta.Commit), img)
	if err != nil {
		t.Fatal(err)
	}
	index, err := ociimage.Build(img, meta, bins)
	if err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	entrypoint, err := ociimage.Unpack(index, "linux/amd64", rootfs)
	if err != nil {
		t.Fatal(err)
	}
	return entrypoint
}

// runAsDeployed runs egress-operator as the chart's Deployment would: the
// binary from its image, the container's command, args and environment,
// and the chart's ServiceAccount's credentials (a TokenRequest token), so
// what it may do is what the chart's RBAC grants. Outside a pod, three
// things change, and only these:
//   - --kubeconfig names a file with the API server's address and that
//     token, in place of the in-pod service account mount;
//   - --leader-election-namespace is the release namespace, which a pod
//     reads from that mount;
//   - --metrics-bind-address and --health-probe-bind-address move to free
//     loopback ports, as several processes share this machine's network.
func runAsDeployed(t *testing.T, cluster *localcluster.Cluster) *localcluster.Component {
	t.Helper()
	ctx := context.Background()
	deploy := &appsv1.Deployment{}
	if err := cluster.Client.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: "egress-operator"}, deploy); err != nil {
		t.Fatal(err)
	}
	pod := deploy.Spec.Template.Spec
	container := pod.Containers[0]
	kubeconfig := serviceAccountKubeconfig(t, cluster, pod.ServiceAccountName)

	command := append(operatorImage(t), container.Command...)
	var args []string
	for _, a := range container.Args {
		if !strings.HasPrefix(a, "--metrics-bind-address=") && !strings.HasPrefix(a, "--health-probe-bind-address=") {
			args = append(args, a)
		}
	}
	args = append(args, command[1:]...)
	args = append(args,
		"--kubeconfig="+kubeconfig,
		"--leader-election-namespace="+Namespace,
		"--metrics-bind-address="+freeAddr(t),
		"--health-probe-bind-address="+freeAddr(t),
	)
	var env []string
	for _, e := range container.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	operator, err := cluster.StartProgram("egress-operator-from-chart", command[0], args, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = operator.Stop()
		if t.Failed() {
			logTail(t, operator.LogPath())
		}
	})
	return operator
}

// serviceAccountKubeconfig writes a kubeconfig whose credentials are a
// token of the ServiceAccount name in the release namespace.
func serviceAccountKubeconfig(t *testing.T, cluster *localcluster.Cluster, name string) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	expiry := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts(Namespace).CreateToken(context.Background(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("request a token of the chart's ServiceAccount %s: %v", name, err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfigForToken(path, tr.Status.Token); err != nil {
		t.Fatal(err)
	}
	return path
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprintf("127.0.0.1:%d", l.Addr().(*net.TCPAddr).Port)
}

// logTail prints the end of a component's log, for a failed test.
func logTail(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Logf("no log %s: %v", path, err)
		return
	}
	if len(data) > 6000 {
		data = data[len(data)-6000:]
	}
	t.Logf("%s ends with:\n%s", path, data)
}
