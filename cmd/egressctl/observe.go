package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
)

// observePath is where the egressoperator plugin serves what it observed
// (dnsplugin.ObservePath; egressctl does not link CoreDNS).
const observePath = "/egressgate/observe"

type observeOptions struct {
	endpoints  []string
	tokenFile  string
	caFile     string
	insecure   bool
	kubeconfig string
	output     string
	suggest    bool
	ports      string
}

func newObserveCommand() *cobra.Command {
	o := observeOptions{}
	cmd := &cobra.Command{
		Use:   "observe --endpoint URL [--token-file FILE]",
		Short: "Show which workloads look up which external names, from CoreDNS's observe mode",
		Long: `observe reads what the egressoperator CoreDNS plugin recorded in observe mode
(the observe property; see dnsplugin/README.md) from one or more CoreDNS pods,
merges it, and prints per workload the external names it looked up, the
ExternalService that covers each name (from the cluster), and whether the
workload carries that ExternalService's client label
egress.monzo.com/allowed-<name>.

The endpoint authenticates the caller's bearer token with the API server and
requires permission to get the non-resource URL /egressgate/observe (the
ClusterRole egressgate-observe-reader in config/coredns/rbac.yaml). The API
server's pod proxy cannot carry the caller's identity to the pod, so read
each CoreDNS pod directly: at its address from inside the cluster, or
through 'kubectl -n kube-system port-forward pod/POD 9154'.

With --suggest it prints, instead, an ExternalService for every name no
ExternalService covers (checked against the CRD as the API server would) and
the label patch for every workload that lacks a client label.`,
		Example: `  kubectl -n kube-system port-forward pod/coredns-5d78c9869d-abcde 9154 &
  kubectl create token observer -n team > token
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
	f.StringSliceVar(&o.endpoints, "endpoint", nil, "base URL of a CoreDNS pod's observe endpoint, e.g. https://127.0.0.1:9154 (repeatable; the results are merged)")
	f.StringVar(&o.tokenFile, "token-file", "", "file holding the bearer token to present (default: the kubeconfig's token, if it has one)")
	f.StringVar(&o.caFile, "certificate-authority", "", "CA certificate that signed the endpoint's certificate (the plugin's tls property)")
	f.BoolVar(&o.insecure, "insecure-skip-tls-verify", false, "do not verify the endpoint's certificate (the plugin's default one is self-signed)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file, for the ExternalServices (default: $KUBECONFIG, ~/.kube/config or in-cluster)")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table, yaml or json")
	f.BoolVar(&o.suggest, "suggest", false, "print ExternalServices for uncovered names and the label patches workloads need")
	f.StringVar(&o.ports, "ports", "443/TLS", "ports of suggested ExternalServices, PORT/PROTOCOL separated by commas (TLS, TCP or UDP)")
	_ = cmd.MarkFlagRequired("endpoint")
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
	client, err := observeHTTPClient(o.caFile, o.insecure)
	if err != nil {
		return err
	}
	var reports []observeReport
	for _, ep := range o.endpoints {
		rep, err := fetchObserved(ctx, client, ep, token)
		if err != nil {
			fmt.Fprintf(stderr, "warning: %v\n", err)
			continue
		}
		if !rep.WorkloadsSynced {
			fmt.Fprintf(stderr, "warning: %s has not listed the cluster's pods yet: its lookups show as Unknown sources\n", ep)
		}
		if rep.Evictions > 0 {
			fmt.Fprintf(stderr, "warning: %s evicted %d entries to stay within max_entries %d: older lookups are missing\n", ep, rep.Evictions, rep.MaxEntries)
		}
		reports = append(reports, rep)
	}
	if len(reports) == 0 {
		return fmt.Errorf("no observe endpoint could be read (%d tried); see the warnings above", len(o.endpoints))
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

func observeHTTPClient(caFile string, insecure bool) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // asked for by --insecure-skip-tls-verify
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read the certificate authority: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
		}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}, nil
}

// fetchObserved reads one endpoint, with an error that says what to do
// about each way it can fail.
func fetchObserved(ctx context.Context, c *http.Client, endpoint, token string) (observeReport, error) {
	url := strings.TrimSuffix(endpoint, "/")
	if !strings.HasSuffix(url, observePath) {
		url += observePath
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return observeReport{}, fmt.Errorf("--endpoint %s: %w", endpoint, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return observeReport{}, fmt.Errorf("nothing listens at %s: is observe on in the egressoperator block of that CoreDNS, with this port (listen), and is the port-forward running? (%w)", endpoint, err)
		}
		return observeReport{}, fmt.Errorf("cannot reach the DNS pod at %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 512<<20))
	if err != nil {
		return observeReport{}, fmt.Errorf("read %s: %w", url, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return observeReport{}, fmt.Errorf("%s answered 404: this is not the observe endpoint; turn observe on in the egressoperator block (dnsplugin/README.md, Observe mode) and use its listen port", url)
	case http.StatusUnauthorized:
		return observeReport{}, fmt.Errorf("%s refused the token (401): pass --token-file with a token the cluster's API server accepts", url)
	case http.StatusForbidden:
		return observeReport{}, fmt.Errorf("%s: the token's user may not read it (403): bind the ClusterRole egressgate-observe-reader (get on /egressgate/observe) to it", url)
	default:
		return observeReport{}, fmt.Errorf("%s answered %d: %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var rep observeReport
	if err := json.Unmarshal(body, &rep); err != nil {
		return observeReport{}, fmt.Errorf("%s did not answer an observe report: %w", url, err)
	}
	return rep, nil
}
