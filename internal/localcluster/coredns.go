package localcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/miekg/dns"

	"github.com/egressgate/egressgate/internal/supervisor"
)

// CoreDNSReadyTimeout bounds how long CoreDNS may take to answer.
const CoreDNSReadyTimeout = 30 * time.Second

// StartCoreDNS runs bin/coredns (CoreDNS with the egressoperator plugin)
// on a free loopback port, answering from the cluster, and returns its
// address. extra is added to the server block (a hosts block standing in
// for the internet, say); names nothing else answers are forwarded to this
// machine's resolver.
func (c *Cluster) StartCoreDNS(ctx context.Context, extra string) (string, error) {
	port, err := supervisor.FreePort()
	if err != nil {
		return "", err
	}
	addr := "127.0.0.1:" + itoa(port)
	corefile := fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    errors
    ready 127.0.0.1:0
    egressoperator %s cluster.local {
        kubeconfig %s
    }
    cache 30
%s
    forward . /etc/resolv.conf
}
`, port, GatewayNamespace, c.Kubeconfig, extra)
	path := filepath.Join(c.Dir, "Corefile")
	if err := os.WriteFile(path, []byte(corefile), 0o644); err != nil {
		return "", err
	}
	p, err := c.start("coredns", c.bin("coredns"), []string{"-conf", path}, nil, c.Dir)
	if err != nil {
		return "", err
	}
	err = p.WaitReady(ctx, CoreDNSReadyTimeout, func(ctx context.Context) error {
		m := new(dns.Msg)
		m.SetQuestion("kubernetes.default.svc.cluster.local.", dns.TypeA)
		_, _, err := (&dns.Client{Timeout: time.Second}).ExchangeContext(ctx, m, addr)
		return err
	})
	return addr, err
}
