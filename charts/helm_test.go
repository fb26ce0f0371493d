package charts

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"
	release "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// ReleaseName is the README's release name.
const ReleaseName = "egressgate"

// helmTimeout bounds one install, upgrade or uninstall, waits included.
const helmTimeout = 3 * time.Minute

// helm runs Helm's own actions, as the helm command does, against the
// cluster of a kubeconfig, storing releases in Secrets as it does.
type helm struct {
	t   testing.TB
	cfg *action.Configuration
}

func newHelm(t testing.TB, kubeconfig, namespace string) *helm {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig, flags.Namespace = &kubeconfig, &namespace
	cfg := action.NewConfiguration()
	if err := cfg.Init(flags, namespace, "secret"); err != nil {
		t.Fatalf("helm: %v", err)
	}
	return &helm{t: t, cfg: cfg}
}

func loadChart(t testing.TB) *chart.Chart {
	t.Helper()
	c, err := loader.Load(filepath.Join("egressgate"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// install is `helm install egressgate charts/egressgate -n <ns>
// --create-namespace [--wait]` with vals.
func (h *helm) install(c *chart.Chart, vals map[string]any, wait bool) *release.Release {
	h.t.Helper()
	in := action.NewInstall(h.cfg)
	in.ReleaseName, in.Namespace, in.CreateNamespace = ReleaseName, Namespace, true
	in.Timeout = helmTimeout
	if wait {
		in.WaitStrategy = kube.StatusWatcherStrategy
	} else {
		in.WaitStrategy = kube.HookOnlyStrategy
	}
	ctx, cancel := context.WithTimeout(context.Background(), helmTimeout)
	defer cancel()
	rel, err := in.RunWithContext(ctx, c, vals)
	if err != nil {
		h.t.Fatalf("helm install: %v", err)
	}
	return rel.(*release.Release)
}

// upgrade is `helm upgrade egressgate charts/egressgate --wait` with vals.
func (h *helm) upgrade(c *chart.Chart, vals map[string]any) *release.Release {
	h.t.Helper()
	up := action.NewUpgrade(h.cfg)
	up.Namespace, up.Timeout, up.WaitStrategy = Namespace, helmTimeout, kube.StatusWatcherStrategy
	ctx, cancel := context.WithTimeout(context.Background(), helmTimeout)
	defer cancel()
	rel, err := up.RunWithContext(ctx, ReleaseName, c, vals)
	if err != nil {
		h.t.Fatalf("helm upgrade: %v", err)
	}
	return rel.(*release.Release)
}

// uninstall is `helm uninstall egressgate --wait`.
func (h *helm) uninstall() {
	h.t.Helper()
	un := action.NewUninstall(h.cfg)
	un.Timeout, un.WaitStrategy = helmTimeout, kube.StatusWatcherStrategy
	if _, err := un.Run(ReleaseName); err != nil {
		h.t.Fatalf("helm uninstall: %v", err)
	}
}
