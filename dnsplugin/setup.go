package dnsplugin

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

var log = clog.NewWithPlugin(pluginName)

// Defaults of the Corefile arguments, those of the original egress-operator
// README's line `egressoperator egress-operator-system cluster.local`.
const (
	// DefaultGatewayNamespace is where the gateway pods run.
	DefaultGatewayNamespace = egressv1.DefaultGatewayNamespace
	// DefaultZone is the cluster domain.
	DefaultZone = "cluster.local."
)

func init() { plugin.Register(pluginName, setup) }

// config is one parsed egressoperator stanza.
type config struct {
	namespace   string // GATEWAY-NAMESPACE
	zone        string // ZONE, lowercase FQDN
	ttl         uint32
	kubeconfig  string // empty: in-cluster config
	kubecontext string
	snapshot    string         // empty: no snapshot
	observe     *observeConfig // nil: observe mode off
}

func setup(c *caddy.Controller) error {
	cfg, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	restConfig, err := cfg.restConfig()
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	source, err := newKubeSource(restConfig, cfg.namespace, cfg.zone)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	source.snapshotPath = cfg.snapshot
	c.OnStartup(source.Start)
	c.OnShutdown(source.Stop)

	e := &Hijacker{source: source, ttl: cfg.ttl}
	if cfg.observe != nil {
		e.observe = &observeHook{cfg: cfg.observe, zone: canonicalName(cfg.zone), rc: restConfig}
		c.OnStartup(e.observe.start)
		c.OnShutdown(e.observe.stop)
	}
	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		e.Next = next
		return e
	})
	return nil
}

// parse reads
//
//	egressoperator [GATEWAY-NAMESPACE] [ZONE] {
//	    kubeconfig PATH [CONTEXT]
//	    ttl SECONDS
//	    snapshot PATH
//	    observe {
//	        ...
//	    }
//	}
func parse(c *caddy.Controller) (*config, error) {
	cfg := &config{namespace: DefaultGatewayNamespace, zone: DefaultZone, ttl: DefaultTTL}
	seen := false
	for c.Next() {
		if seen {
			if c.Val() != pluginName {
				return nil, c.Errf("unexpected %q after the %s block", c.Val(), pluginName)
			}
			return nil, c.Err(plugin.ErrOnce.Error())
		}
		seen = true

		args := c.RemainingArgs()
		if len(args) > 2 {
			return nil, c.ArgErr()
		}
		if len(args) > 0 {
			if errs := validation.IsDNS1123Label(args[0]); len(errs) > 0 {
				return nil, c.Errf("GATEWAY-NAMESPACE %q is not a namespace name: %s", args[0], strings.Join(errs, "; "))
			}
			cfg.namespace = args[0]
		}
		if len(args) > 1 {
			zone := canonicalName(args[1])
			if _, ok := dns.IsDomainName(zone); !ok || zone == "." {
				return nil, c.Errf("ZONE %q is not a cluster domain such as cluster.local", args[1])
			}
			cfg.zone = zone
		}

		for c.NextBlock() {
			switch c.Val() {
			case "kubeconfig":
				args := c.RemainingArgs()
				if len(args) != 1 && len(args) != 2 {
					return nil, c.ArgErr()
				}
				cfg.kubeconfig = args[0]
				if len(args) == 2 {
					cfg.kubecontext = args[1]
				}
			case "snapshot":
				args := c.RemainingArgs()
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				cfg.snapshot = args[0]
			case "ttl":
				args := c.RemainingArgs()
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				t, err := strconv.Atoi(args[0])
				if err != nil || t < 0 || t > 3600 {
					return nil, c.Errf("ttl must be a number of seconds in [0, 3600], not %q", args[0])
				}
				cfg.ttl = uint32(t)
			case "observe":
				if cfg.observe != nil {
					return nil, c.Err("observe is given twice: merge the two blocks")
				}
				oc, err := parseObserve(c)
				if err != nil {
					return nil, err
				}
				cfg.observe = oc
			default:
				return nil, c.Errf("unknown property %q", c.Val())
			}
		}
	}
	return cfg, nil
}

// restConfig is the client configuration: the kubeconfig file and context
// when given, the pod's service account otherwise.
func (cfg *config) restConfig() (*rest.Config, error) {
	var (
		rc  *rest.Config
		err error
	)
	if cfg.kubeconfig == "" {
		rc, err = rest.InClusterConfig()
		if err != nil {
			if errors.Is(err, rest.ErrNotInCluster) {
				return nil, fmt.Errorf("not running in a cluster and no kubeconfig given: %w", err)
			}
			return nil, fmt.Errorf("load in-cluster config: %w", err)
		}
	} else {
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: cfg.kubeconfig},
			&clientcmd.ConfigOverrides{CurrentContext: cfg.kubecontext},
		).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("load kubeconfig %s: %w", cfg.kubeconfig, err)
		}
	}
	rc.UserAgent = "coredns-" + pluginName
	return rc, nil
}
