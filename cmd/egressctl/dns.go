package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// dnsOptions are the flags of `egressctl dns`.
type dnsOptions struct {
	kubeconfig, context              string
	namespace, deployment, configMap string
	image, gatewayNamespace          string
	snapshot, dryRun, wait, force    bool
	nodeLocalConfigured              bool
	timeout                          time.Duration
}

// The snapshot file of the egressoperator line, on an emptyDir volume, as
// config/coredns/Corefile has it.
const (
	snapshotDir    = "/var/run/egressoperator"
	snapshotFile   = snapshotDir + "/table.json"
	snapshotVolume = "egressoperator-snapshot"
)

func newDNSCommand() *cobra.Command {
	o := &dnsOptions{}
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Turn egressgate's DNS half (the egressoperator CoreDNS plugin) on or off in the cluster's CoreDNS",
		Long: `dns edits the cluster's CoreDNS (by default the Deployment and ConfigMap
kube-system/coredns, as kubeadm, EKS and most distributions have them): enable
puts egressgate's CoreDNS image in and adds the egressoperator line to the
Corefile, disable puts back exactly what was there, status tells which of the
two is running and warns when they do not match.`,
	}
	f := cmd.PersistentFlags()
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config or in-cluster)")
	f.StringVar(&o.context, "context", "", "kubeconfig context (default: its current context)")
	f.StringVar(&o.namespace, "namespace", "kube-system", "namespace of CoreDNS")
	f.StringVar(&o.deployment, "deployment", "coredns", "CoreDNS's Deployment")
	f.StringVar(&o.configMap, "configmap", "coredns", "CoreDNS's ConfigMap, holding the key Corefile")
	cmd.AddCommand(newDNSEnableCommand(o), newDNSDisableCommand(o), newDNSStatusCommand(o))
	return cmd
}

func newDNSEnableCommand(o *dnsOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "enable",
		Short: "Run egressgate's CoreDNS and add the egressoperator line to the Corefile",
		Long: `enable checks that CoreDNS can take egressgate's plugin (its version, no add-on
manager, NodeLocal DNSCache configured, the plugin's RBAC and the
ExternalService CRD installed), sets the CoreDNS container's image, adds an
emptyDir for the plugin's snapshot, waits for the rollout, then adds

    egressoperator GATEWAY-NAMESPACE CLUSTER-DOMAIN {
        snapshot /var/run/egressoperator/table.json
    }

before the kubernetes line of the Corefile's server block for ".". The
original Corefile and image are kept in annotations for disable. Running it
again changes nothing; --dry-run prints the changes as a diff.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := dnsClient(o)
			if err != nil {
				return err
			}
			return runDNSEnable(cmd.Context(), cs, o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.image, "image", "", "egressgate's CoreDNS image (default: "+egressgateRepository+":<egressctl's version>)")
	f.StringVar(&o.gatewayNamespace, "gateway-namespace", egressv1.DefaultGatewayNamespace, "namespace of the gateway pods, as the operator's --gateway-namespace")
	f.BoolVar(&o.snapshot, "snapshot", true, "give the plugin a snapshot file on an emptyDir, so a restarted CoreDNS answers during an API server outage")
	f.BoolVar(&o.nodeLocalConfigured, "nodelocal-configured", false, "NodeLocal DNSCache runs and is configured as dnsplugin/README.md says")
	f.BoolVar(&o.force, "force", false, "accept a CoreDNS whose version the image tag does not tell, or one newer than egressgate's")
	addWriteFlags(cmd, o)
	return cmd
}

func newDNSDisableCommand(o *dnsOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "disable",
		Short: "Put back the Corefile and CoreDNS image enable replaced",
		Long: `disable restores the Corefile byte for byte and the CoreDNS image from the
annotations enable left, removes the snapshot volume enable added and the
annotations, and waits for the rollout. It refuses when enable was never
run, and, without --force, when the Corefile was changed since.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := dnsClient(o)
			if err != nil {
				return err
			}
			return runDNSDisable(cmd.Context(), cs, o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&o.force, "force", false, "restore the original Corefile even though it was changed since enable")
	addWriteFlags(cmd, o)
	return cmd
}

func newDNSStatusCommand(o *dnsOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Tell whether CoreDNS runs egressgate's plugin, and warn of a mismatch",
		Long: `status prints whether the Corefile names egressoperator, which image CoreDNS
runs and whether it is egressgate's CoreDNS. A Corefile naming egressoperator
with another image (a cluster upgrade can put the stock image back) makes
CoreDNS fail at its next start: status says so and exits non-zero.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := dnsClient(o)
			if err != nil {
				return err
			}
			return runDNSStatus(cmd.Context(), cs, o, cmd.OutOrStdout())
		},
	}
}

func addWriteFlags(cmd *cobra.Command, o *dnsOptions) {
	f := cmd.Flags()
	f.BoolVar(&o.dryRun, "dry-run", false, "print the changes as a unified diff and write nothing")
	f.BoolVar(&o.wait, "wait", true, "wait for CoreDNS's rollout (enable --wait=false writes the Corefile right after setting the image)")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait for the rollout")
}

// dnsClient connects to the cluster --kubeconfig and --context name.
func dnsClient(o *dnsOptions) (kubernetes.Interface, error) {
	var cfg *rest.Config
	var err error
	if o.context == "" {
		cfg, err = restConfig(o.kubeconfig)
	} else {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rules.ExplicitPath = o.kubeconfig
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.context}).ClientConfig()
		if err != nil {
			err = fmt.Errorf("read kubeconfig context %s: %w", o.context, err)
		}
	}
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to the cluster: %w", err)
	}
	return cs, nil
}
