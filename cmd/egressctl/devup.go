package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/controllers"
	"github.com/egressgate/egressgate/internal/crdpaths"
	"github.com/egressgate/egressgate/internal/localcluster"
	"github.com/egressgate/egressgate/translate"
)

// samplesReadyTimeout bounds the wait for every sample to be Programmed and
// hijacked.
const samplesReadyTimeout = 3 * time.Minute

type devUpOptions struct {
	samples   string
	noSamples bool
	dir       string
}

func newDevUpCommand() *cobra.Command {
	o := devUpOptions{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a local cluster with istiod, the operator and CoreDNS, apply the samples, and stay up until Ctrl-C",
		Long: `up starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok
(one fake node, so gateway pods become Ready) and istiod from bin/ (built by
'make tools'), then the egress operator and CoreDNS with the egressoperator
plugin on a loopback port. It applies the ExternalServices in samples/, waits
until each is Programmed and hijacked, prints what it sees, and stays up
until interrupted.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return devUp(ctx, cmd.OutOrStdout(), o)
		},
	}
	cmd.Flags().StringVar(&o.samples, "samples", "", "directory of ExternalServices to apply (default: the repository's samples/)")
	cmd.Flags().BoolVar(&o.noSamples, "no-samples", false, "do not apply any ExternalService")
	cmd.Flags().StringVar(&o.dir, "dir", "", "directory for the cluster's data and logs (default: a new temporary directory)")
	return cmd
}

func devUp(ctx context.Context, out io.Writer, o devUpOptions) error {
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	start := time.Now()
	fmt.Fprintln(out, ">> starting the local cluster")
	cluster, err := localcluster.Start(ctx, localcluster.Options{Dir: o.dir, Istio: true, Progress: out})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, ">> stopping")
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop:", err)
		}
	}()

	fmt.Fprintln(out, ">> starting the egress operator")
	opts := translate.DefaultOptions()
	mgr, err := controllers.NewManager(cluster.Config, opts, controllers.ManagerOptions{MetricsAddr: "0", ProbeAddr: "0", Concurrency: 4})
	if err != nil {
		return err
	}
	mgrCtx, stopMgr := context.WithCancel(ctx)
	defer stopMgr()
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(mgrCtx) }()

	fmt.Fprintln(out, ">> starting CoreDNS with the egressoperator plugin")
	dnsAddr, err := cluster.StartCoreDNS(ctx, "")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, ">> up in %.1fs\n", time.Since(start).Seconds())

	var names []string
	if !o.noSamples {
		if names, err = applySamples(ctx, cluster, o.samples); err != nil {
			return err
		}
		fmt.Fprintf(out, ">> applied %d ExternalServices; waiting until each is Programmed and hijacked\n", len(names))
		if err := waitProgrammed(ctx, cluster, names); err != nil {
			fmt.Fprintln(out, "!! ", err)
		}
		if err := printTable(ctx, out, cluster, dnsAddr); err != nil {
			return err
		}
	}
	printTryThis(out, cluster, dnsAddr, names)

	select {
	case <-ctx.Done():
		return nil
	case err := <-mgrDone:
		return fmt.Errorf("the operator stopped: %w", err)
	}
}

func applySamples(ctx context.Context, cluster *localcluster.Cluster, dir string) ([]string, error) {
	if dir == "" {
		root, err := crdpaths.RepoRoot()
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(root, "samples")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(raw, &u.Object); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if err := cluster.Client.Create(ctx, u); err != nil {
			return nil, fmt.Errorf("apply %s: %w", f, err)
		}
		names = append(names, u.GetName())
	}
	return names, nil
}

func waitProgrammed(ctx context.Context, cluster *localcluster.Cluster, names []string) error {
	ctx, cancel := context.WithTimeout(ctx, samplesReadyTimeout)
	defer cancel()
	for {
		var waiting []string
		for _, name := range names {
			es := &egressv1.ExternalService{}
			if err := cluster.Client.Get(ctx, clientKey(name), es); err != nil {
				waiting = append(waiting, name+" ("+err.Error()+")")
				continue
			}
			ok := meta.IsStatusConditionTrue(es.Status.Conditions, egressv1.ConditionProgrammed)
			if es.Spec.HijackDns {
				ok = ok && meta.IsStatusConditionTrue(es.Status.Conditions, egressv1.ConditionDNSHijacked)
			}
			if !ok {
				waiting = append(waiting, name)
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not Programmed after %s: %s", samplesReadyTimeout, strings.Join(waiting, ", "))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func printTable(ctx context.Context, out io.Writer, cluster *localcluster.Cluster, dnsAddr string) error {
	var list egressv1.ExternalServiceList
	if err := cluster.Client.List(ctx, &list); err != nil {
		return err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nNAME\tDNS NAME\tPORTS\tGATEWAY ADDRESS\tPROGRAMMED\tDNS ANSWER (A)")
	for _, es := range list.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", es.Name, es.Spec.DnsName, portList(&es),
			strings.Join(es.Status.Addresses, ","), conditionStatus(&es, egressv1.ConditionProgrammed), lookupA(ctx, dnsAddr, es.Spec.DnsName))
	}
	return tw.Flush()
}

// lookupA asks the local CoreDNS, over UDP, for name's A records.
func lookupA(ctx context.Context, server, name string) string {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).ExchangeContext(ctx, m, server)
	if err != nil {
		return "error: " + err.Error()
	}
	if r.Rcode != dns.RcodeSuccess {
		return dns.RcodeToString[r.Rcode]
	}
	var ips []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			ips = append(ips, a.A.String())
		}
	}
	if len(ips) == 0 {
		return "(no A records)"
	}
	return strings.Join(ips, ",")
}

func printTryThis(out io.Writer, cluster *localcluster.Cluster, dnsAddr string, names []string) {
	host, port, _ := strings.Cut(dnsAddr, ":")
	fmt.Fprintf(out, "\nTry:\n")
	fmt.Fprintf(out, "  export KUBECONFIG=%s\n", cluster.Kubeconfig)
	fmt.Fprintf(out, "  kubectl get externalservices\n")
	fmt.Fprintf(out, "  kubectl -n %s get gateways,tlsroutes,tcproutes,serviceentries,networkpolicies,deployments,services,hpa\n", localcluster.GatewayNamespace)
	for _, n := range names {
		fmt.Fprintf(out, "  kubectl get externalservice %s -o yaml\n", n)
		break
	}
	fmt.Fprintf(out, "  dig @%s -p %s github.com A +short\n", host, port)
	fmt.Fprintf(out, "  dig @%s -p %s github.com AAAA\n", host, port)
	fmt.Fprintf(out, "Component logs: %s\n", filepath.Join(cluster.Dir, "logs"))
	fmt.Fprintf(out, "Press Ctrl-C to stop.\n")
}

func clientKey(name string) client.ObjectKey { return client.ObjectKey{Name: name} }
