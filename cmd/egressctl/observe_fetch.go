package main

// Reading the observe endpoints: every DNS pod through the API server's pod
// proxy, or the addresses given with --endpoint directly.

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
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// proxiedAuthorizationHeader is dnsplugin.ProxiedAuthorizationHeader
// (egressctl does not link CoreDNS): the token's header through the pod
// proxy, which consumes Authorization itself.
const proxiedAuthorizationHeader = "X-Egressgate-Authorization"

// observeSource is one observe endpoint and how to reach it.
type observeSource struct {
	name   string // for messages: the --endpoint, or namespace/pod
	url    string
	client *http.Client
	// proxied: through the API server, the token in
	// proxiedAuthorizationHeader; otherwise direct, in Authorization.
	proxied bool
}

// observeSources are the --endpoint addresses or, without any, every
// running DNS pod.
func observeSources(ctx context.Context, cfg *rest.Config, o observeOptions) ([]observeSource, error) {
	if len(o.endpoints) > 0 {
		client, err := observeHTTPClient(o.caFile, o.insecure)
		if err != nil {
			return nil, err
		}
		var out []observeSource
		for _, ep := range o.endpoints {
			url := strings.TrimSuffix(ep, "/")
			if !strings.HasSuffix(url, observePath) {
				url += observePath
			}
			out = append(out, observeSource{name: ep, url: url, client: client})
		}
		return out, nil
	}
	return dnsPodSources(ctx, cfg, o)
}

// dnsPodSources are the running pods o.dnsSelector picks in o.dnsNamespace,
// read through the API server's pod proxy.
func dnsPodSources(ctx context.Context, cfg *rest.Config, o observeOptions) ([]observeSource, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	pods, err := cs.CoreV1().Pods(o.dnsNamespace).List(ctx, metav1.ListOptions{LabelSelector: o.dnsSelector})
	if err != nil {
		return nil, fmt.Errorf("list the DNS pods (%s in %s): %w; the kubeconfig's user needs list on pods and get on pods/proxy there, or pass --endpoint to read the pods directly", o.dnsSelector, o.dnsNamespace, err)
	}
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	var out []observeSource
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || p.DeletionTimestamp != nil {
			continue
		}
		url := cs.CoreV1().RESTClient().Get().Namespace(p.Namespace).Resource("pods").
			Name("https:" + p.Name + ":" + strconv.Itoa(o.observePort)).SubResource("proxy").Suffix(observePath).URL()
		out = append(out, observeSource{name: "pod " + p.Namespace + "/" + p.Name, url: url.String(), client: client, proxied: true})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no running pod in %s matches %s (%d matched, none running): set --dns-namespace and --dns-selector to the cluster DNS pods, or pass --endpoint",
			o.dnsNamespace, o.dnsSelector, len(pods.Items))
	}
	return out, nil
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

// fetch reads the endpoint, with an error that says what to do about each
// way it can fail.
func (s observeSource) fetch(ctx context.Context, token string) (observeReport, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return observeReport{}, fmt.Errorf("%s: %w", s.name, err)
	}
	if s.proxied {
		req.Header.Set(proxiedAuthorizationHeader, "Bearer "+token)
	} else {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return observeReport{}, fmt.Errorf("nothing listens at %s: is observe on in the egressoperator block of that CoreDNS, with this port (listen), and is the port-forward running? (%w)", s.name, err)
		}
		return observeReport{}, fmt.Errorf("cannot reach %s: %w", s.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 512<<20))
	if err != nil {
		return observeReport{}, fmt.Errorf("read %s: %w", s.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return observeReport{}, s.refusal(resp.StatusCode, body)
	}
	var rep observeReport
	if err := json.Unmarshal(body, &rep); err != nil {
		return observeReport{}, fmt.Errorf("%s did not answer an observe report: %w", s.name, err)
	}
	return rep, nil
}

// refusal explains a status other than 200: the API server's own (the
// proxy could not be used or the pod not reached), or the endpoint's.
func (s observeSource) refusal(code int, body []byte) error {
	var st metav1.Status
	if s.proxied && json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
		if code == http.StatusForbidden || code == http.StatusUnauthorized {
			return fmt.Errorf("%s: the API server refused the pod proxy (%d): %s; the kubeconfig's user needs get on pods/proxy there, or pass --endpoint", s.name, code, st.Message)
		}
		return fmt.Errorf("%s: the API server could not reach the pod's port (%d): %s; is observe on in the egressoperator block of that CoreDNS, listening on --observe-port?", s.name, code, st.Message)
	}
	switch code {
	case http.StatusNotFound:
		return fmt.Errorf("%s answered 404: this is not the observe endpoint; turn observe on in the egressoperator block (dnsplugin/README.md, Observe mode) and use its listen port", s.name)
	case http.StatusUnauthorized:
		return fmt.Errorf("%s refused the token (401): pass --token-file with a token the cluster's API server accepts", s.name)
	case http.StatusForbidden:
		return fmt.Errorf("%s: the token's user may not read it (403): bind the ClusterRole egressgate-observe-reader (get on /egressgate/observe) to it", s.name)
	}
	return fmt.Errorf("%s answered %d: %s", s.name, code, strings.TrimSpace(string(body)))
}
