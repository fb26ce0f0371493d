package dnsplugin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The observe endpoint serves the recorded lookups as JSON over HTTPS. A
// caller presents a bearer token; the plugin asks the API server who it is
// (TokenReview) and whether it may read the record (SubjectAccessReview:
// verb get on the non-resource URL ObservePath), as the secure metrics
// endpoints of Kubernetes components do. Decisions are cached (an allow for
// a minute, a refusal for ten seconds), so a reader polling the endpoint
// costs the API server two requests a minute; while the API server cannot
// be reached, a token allowed in the last ten minutes keeps reading.

// ObservePath is the endpoint's path, and the non-resource URL a reader
// must be allowed to get.
const ObservePath = "/egressgate/observe"

const (
	allowTTL = time.Minute
	denyTTL  = 10 * time.Second
	// staleAllowTTL is how long after its review an allowed token keeps
	// reading while the API server cannot be reached.
	staleAllowTTL = 10 * time.Minute
	// maxCachedDecisions bounds the decision cache.
	maxCachedDecisions = 1000
)

type endpoint struct {
	server *http.Server
	ln     net.Listener
	done   chan struct{}
}

type decision struct {
	code    int // http.StatusOK, StatusUnauthorized or StatusForbidden
	expires time.Time
}

// authorizer checks a caller's bearer token with the API server.
type authorizer struct {
	cs *kubernetes.Clientset
	mu sync.Mutex
	// cache maps the SHA-256 of a token to the last decision.
	cache map[[32]byte]decision
}

func startEndpoint(cfg *observeConfig, rc *rest.Config, rec *recorder, synced func() bool) (*endpoint, error) {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("create client for token and access reviews: %w", err)
	}
	cert, err := endpointCertificate(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s for the observe endpoint: %w", cfg.listen, err)
	}
	az := &authorizer{cs: cs, cache: map[[32]byte]decision{}}
	mux := http.NewServeMux()
	mux.Handle(ObservePath, az.protect(serveReport(rec, synced)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, fmt.Sprintf("404 %s: the observe endpoint is %s", r.URL.Path, ObservePath), http.StatusNotFound)
	})
	e := &endpoint{
		server: &http.Server{
			Handler:           mux,
			TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       time.Minute,
			MaxHeaderBytes:    16 << 10,
		},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(e.done)
		if err := e.server.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Errorf("observe endpoint on %s stopped: %v", cfg.listen, err)
		}
	}()
	return e, nil
}

// Addr is the address the endpoint listens on.
func (e *endpoint) Addr() string { return e.ln.Addr().String() }

// Stop closes the listener and the open connections, and waits for them.
func (e *endpoint) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := e.server.Shutdown(ctx); err != nil {
		_ = e.server.Close()
	}
	<-e.done
}

// endpointCertificate loads the tls files, or makes a self-signed
// certificate valid for a year.
func endpointCertificate(cfg *observeConfig) (tls.Certificate, error) {
	if cfg.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("load the observe endpoint's certificate: %w", err)
		}
		return cert, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate the observe endpoint's key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate a serial number: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "coredns-" + pluginName + "-observe"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-sign the observe endpoint's certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// serveReport writes the recorder's report as indented JSON.
func serveReport(rec *recorder, synced func() bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		rep := rec.report()
		rep.WorkloadsSynced = synced()
		_ = enc.Encode(rep)
	})
}

// protect lets a request through to next only when its bearer token
// authenticates and its user may get ObservePath.
func (a *authorizer) protect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok {
			// Through the API server's pod proxy, which consumes the
			// Authorization header, the token comes in this one.
			token, ok = bearerToken(r.Header.Get(ProxiedAuthorizationHeader))
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="egressgate observe"`)
			http.Error(w, "Unauthorized: send a bearer token (Authorization: Bearer ...)", http.StatusUnauthorized)
			return
		}
		code, err := a.decide(r.Context(), token)
		switch {
		case err != nil:
			log.Warningf("observe endpoint: %v", err)
			http.Error(w, "cannot check the token with the API server; try again later", http.StatusServiceUnavailable)
		case code == http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Bearer realm="egressgate observe"`)
			http.Error(w, "Unauthorized: the API server does not accept this token", http.StatusUnauthorized)
		case code == http.StatusForbidden:
			http.Error(w, fmt.Sprintf("Forbidden: the user may not get the non-resource URL %s", ObservePath), http.StatusForbidden)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// ProxiedAuthorizationHeader carries the reader's bearer token when the
// endpoint is read through the API server's pod proxy: the API server
// authenticates the proxy request by its own Authorization header and
// removes it, but passes this one to the pod. The token in it is reviewed
// exactly as one in Authorization is; the header carries a credential, not
// an identity anyone could claim.
const ProxiedAuthorizationHeader = "X-Egressgate-Authorization"

// bearerToken is the token of an "Authorization: Bearer TOKEN" header (the
// scheme's case does not matter).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}

// decide returns the cached decision for token, or asks the API server.
func (a *authorizer) decide(ctx context.Context, token string) (int, error) {
	key := sha256.Sum256([]byte(token))
	now := time.Now()
	a.mu.Lock()
	d, ok := a.cache[key]
	a.mu.Unlock()
	if ok && now.Before(d.expires) {
		return d.code, nil
	}
	code, err := a.review(ctx, token)
	if err != nil {
		if ok && d.code == http.StatusOK && now.Before(d.expires.Add(staleAllowTTL-allowTTL)) {
			return d.code, nil // the API server is unreachable: keep a recent allow
		}
		return 0, err
	}
	ttl := denyTTL
	if code == http.StatusOK {
		ttl = allowTTL
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= maxCachedDecisions {
		for k, d := range a.cache {
			if now.After(d.expires) {
				delete(a.cache, k)
			}
		}
		if len(a.cache) >= maxCachedDecisions {
			clear(a.cache)
		}
	}
	a.cache[key] = decision{code: code, expires: now.Add(ttl)}
	return code, nil
}

// review is one TokenReview and, when the token authenticates, one
// SubjectAccessReview.
func (a *authorizer) review(ctx context.Context, token string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tr, err := a.cs.AuthenticationV1().TokenReviews().Create(ctx,
		&authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return 0, fmt.Errorf("review a token: %w", err)
	}
	if !tr.Status.Authenticated {
		return http.StatusUnauthorized, nil
	}
	u := tr.Status.User
	extra := make(map[string]authorizationv1.ExtraValue, len(u.Extra))
	for k, v := range u.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar, err := a.cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra,
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: ObservePath, Verb: "get"},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return 0, fmt.Errorf("review access of %s: %w", u.Username, err)
	}
	if !sar.Status.Allowed {
		return http.StatusForbidden, nil
	}
	return http.StatusOK, nil
}
