package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
)

// observePath is where the egressoperator plugin serves what it observed
// (dnsplugin.ObservePath; egressctl does not link CoreDNS).
const observePath = "/egressgate/observe"

type observeOptions struct {
	endpoints []string
	// Without endpoints: the DNS pods, read through the API server.
	dnsNamespace, dnsSelector string
	observePort               int
	tokenFile                 string
	caFile                    string
	insecure                  bool
	kubeconfig                string
	output                    string
	suggest                   bool
	ports                     string
}

func newObserveCommand() *cobra.Command {
	o := observeOptions{}
	cmd := &cobra.Command{
		Use:   "observe [--endpoint URL] [--token-file FILE]",
		Short: "Show which workloads look up which external names, from CoreDNS's observe mode",
		Long: `observe reads what the egressoperator CoreDNS plugin recorded in observe mode
(the observe property; see dnsplugin/README.md) from one or more CoreDNS pods,
merges it, and prints per workload the external names it looked up, the
ExternalService that covers each name (from the cluster), and whether the
workload carries that ExternalService's client label
egress.monzo.com/allowed-<name>.

By default it reads every running cluster DNS pod (label k8s-app=kube-dns in
kube-system; --dns-selector and --dns-namespace change that) through the API
server's pod proxy, which needs permission to get pods/proxy there. With
--endpoint it reads the given addresses directly instead: a port-forward, or
a pod's address from inside the cluster.

Either way the endpoint authenticates the bearer token with the API server
and requires permission to get the non-resource URL /egressgate/observe (the
ClusterRole egressgate-observe-reader in config/coredns/rbac.yaml). The token
is the kubeconfig's, or --token-file's; through the pod proxy it travels in
the X-Egressgate-Authorization header, since the API server consumes
Authorization itself.

With --suggest it prints, instead, an ExternalService for every name no
ExternalService covers (checked against the CRD as the API server would) and
the label patch for every workload that lacks a client label.`,
		Example: `  kubectl create token observer -n team > token
  egressctl observe --token-file token
  kubectl -n kube-system port-forward pod/coredns-5d78c9869d-abcde 9154 &
  egressctl observe --endpoint https://127.0.0.1:9154 --token-file token --insecure-skip-tls-verify
  egressctl observe --endpoint https://10.0.0.5:9154 --endpoint https://10.0.0.6:9154 \
    --token-file token --certificate-authority ca.crt -o yaml
  egressctl observe --endpoint https://127.0.0.1:9154 --token-file token --insecure-skip-tls-verify --suggest --ports 443/TLS,22/TCP`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := restConfig(o.kubeconfig)
			if err != nil {
				return err
			}
			return runObserve(cmd.Context(), cfg, cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.endpoints, "endpoint", nil, "base URL of a CoreDNS pod's observe endpoint, e.g. https://127.0.0.1:9154, read directly (repeatable; the results are merged); default: every DNS pod through the API server")
	f.StringVar(&o.dnsNamespace, "dns-namespace", "kube-system", "namespace of the cluster DNS pods")
	f.StringVar(&o.dnsSelector, "dns-selector", "k8s-app=kube-dns", "label selector of the cluster DNS pods")
	f.IntVar(&o.observePort, "observe-port", 9154, "port of the observe endpoint in the DNS pods (the observe block's listen)")
	f.StringVar(&o.tokenFile, "token-file", "", "file holding the bearer token to present (default: the kubeconfig's token, if it has one)")
	f.StringVar(&o.caFile, "certificate-authority", "", "with --endpoint: CA certificate that signed the endpoint's certificate (the plugin's tls property)")
	f.BoolVar(&o.insecure, "insecure-skip-tls-verify", false, "with --endpoint: do not verify the endpoint's certificate (the plugin's default one is self-signed)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file, for the ExternalServices (default: $KUBECONFIG, ~/.kube/config or in-cluster)")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table, yaml or json")
	f.BoolVar(&o.suggest, "suggest", false, "print ExternalServices for uncovered names and the label patches workloads need")
	f.StringVar(&o.ports, "ports", "443/TLS", "ports of suggested ExternalServices, PORT/PROTOCOL separated by commas (TLS, TCP or UDP)")
	return cmd
}

func runObserve(ctx context.Context, cfg *rest.Config, stdout, stderr io.Writer, o observeOptions) error {
	if o.output != "table" && o.output != "yaml" && o.output != "json" {
		return fmt.Errorf("-o %s: use table, yaml or json", o.output)
	}
	ports, err := parsePorts(o.ports)
	if err != nil {
		return err
	}
	token, err := observeToken(o.tokenFile, cfg)
	if err != nil {
		return err
	}
	sources, err := observeSources(ctx, cfg, o)
	if err != nil {
		return err
	}
	var reports []observeReport
	for _, src := range sources {
		rep, err := src.fetch(ctx, token)
		if err != nil {
			fmt.Fprintf(stderr, "warning: %v\n", err)
			continue
		}
		if !rep.WorkloadsSynced {
			fmt.Fprintf(stderr, "warning: %s has not listed the cluster's pods yet: its lookups show as Unknown sources\n", src.name)
		}
		if rep.Evictions > 0 {
			fmt.Fprintf(stderr, "warning: %s evicted %d entries to stay within max_entries %d: older lookups are missing\n", src.name, rep.Evictions, rep.MaxEntries)
		}
		reports = append(reports, rep)
	}
	if len(reports) == 0 {
		return fmt.Errorf("no observe endpoint could be read (%d tried); see the warnings above", len(sources))
	}
	services, err := listExternalServices(ctx, cfg)
	if err != nil {
		return err
	}
	views := buildViews(mergeReports(reports), services)
	if o.suggest {
		return writeSuggestions(ctx, stdout, views, ports)
	}
	return writeViews(stdout, o.output, views)
}

// observeToken is the token in file, or the kubeconfig's bearer token.
func observeToken(file string, cfg *rest.Config) (string, error) {
	if file == "" {
		if cfg.BearerToken != "" {
			return cfg.BearerToken, nil
		}
		if cfg.BearerTokenFile != "" {
			file = cfg.BearerTokenFile
		} else {
			return "", errors.New("no token: pass --token-file with a token the API server accepts (e.g. from 'kubectl create token'); the kubeconfig has none")
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read the token: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("the token file %s is empty", file)
	}
	return token, nil
}
