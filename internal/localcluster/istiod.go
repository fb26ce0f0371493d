package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/egressgate/egressgate/internal/supervisor"
)

// meshConfig is the smallest mesh configuration istiod runs with; every
// other field keeps Istio's default.
const meshConfig = `rootNamespace: istio-system
trustDomain: cluster.local
`

// runIstiod starts istiod (pilot-discovery) against the cluster and waits
// until it is ready and has created the "istio" GatewayClass. Its gateway
// deployment controller renders gateways from the injection config that
// `make tools` writes to bin/istio/inject; istiod reads it from
// ./var/lib/istio/inject under its working directory.
func (c *Cluster) runIstiod(ctx context.Context) error {
	work := filepath.Join(c.Dir, "istiod")
	inject := filepath.Join(work, "var", "lib", "istio", "inject")
	if err := os.MkdirAll(inject, 0o755); err != nil {
		return err
	}
	for _, f := range []string{"config", "values"} {
		b, err := os.ReadFile(filepath.Join(c.opts.BinDir, "istio", "inject", f))
		if err != nil {
			return fmt.Errorf("read istiod's injection %s (run 'make tools' first): %w", f, err)
		}
		if err := os.WriteFile(filepath.Join(inject, f), b, 0o644); err != nil {
			return err
		}
	}
	mesh := filepath.Join(work, "mesh.yaml")
	if err := os.WriteFile(mesh, []byte(meshConfig), 0o644); err != nil {
		return err
	}
	var ports [3]int
	for i := range ports {
		p, err := supervisor.FreePort()
		if err != nil {
			return err
		}
		ports[i] = p
	}
	httpAddr := "127.0.0.1:" + itoa(ports[0])
	c.IstiodXDSAddr = "127.0.0.1:" + itoa(ports[1])
	p, err := c.start("istiod", c.bin("pilot-discovery"), []string{
		"discovery",
		"--kubeconfig", c.Kubeconfig,
		"--meshConfig", mesh,
		"--httpAddr", httpAddr,
		"--grpcAddr", c.IstiodXDSAddr,
		"--monitoringAddr", "127.0.0.1:" + itoa(ports[2]),
		"--secureGRPCAddr", "",
		"--httpsAddr", "",
		"--shutdownDuration", "1s",
	}, []string{"POD_NAMESPACE=" + IstioNamespace, "REVISION=default"}, work)
	if err != nil {
		return err
	}
	return p.WaitReady(ctx, IstiodReadyTimeout, func(ctx context.Context) error {
		if err := httpOK(ctx, http.DefaultClient, "http://"+httpAddr+"/ready", ""); err != nil {
			return err
		}
		return c.Client.Get(ctx, types.NamespacedName{Name: "istio"}, &gwapiv1.GatewayClass{})
	})
}

// RestartIstiod stops istiod and starts it again, as when its pod is
// replaced, and returns once the new one is ready. The new istiod listens on
// new ports: read IstiodXDSAddr again afterwards.
func (c *Cluster) RestartIstiod(ctx context.Context) error {
	c.procsMu.Lock()
	var istiod *supervisor.Process
	for i, p := range c.procs {
		if p.Name() == "istiod" {
			istiod = p
			c.procs = append(c.procs[:i], c.procs[i+1:]...)
			break
		}
	}
	c.procsMu.Unlock()
	if istiod == nil {
		return errors.New("restart istiod: istiod is not running (start the cluster with Options.Istio)")
	}
	if err := istiod.Stop(stopGrace); err != nil {
		return fmt.Errorf("restart istiod: stop it: %w", err)
	}
	if err := c.runIstiod(ctx); err != nil {
		return fmt.Errorf("restart istiod: %w", err)
	}
	return nil
}
