package dnsplugin

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"
)

// maxMaxEntries bounds max_entries: a million entries are a few hundred MiB.
const maxMaxEntries = 1_000_000

// parseObserve reads the observe property, c positioned on it:
//
//	observe [{
//	    listen ADDRESS
//	    max_entries N
//	    search_suffixes SUFFIX...
//	    tls CERT KEY
//	    event_interval DURATION
//	}]
//
// Each property sits on its own line.
func parseObserve(c *caddy.Controller) (*observeConfig, error) {
	oc := defaultObserveConfig()
	if args := c.RemainingArgs(); len(args) > 0 {
		return nil, c.Errf("observe takes no arguments, only a block: observe { listen ADDRESS ... }, not %q", strings.Join(args, " "))
	}
	if !c.NextArg() {
		return oc, nil // observe alone: the defaults
	}
	if c.Val() != "{" {
		return nil, c.Errf("unexpected %q after observe: open a block with {", c.Val())
	}
	for {
		if !c.Next() {
			return nil, c.Err("the observe block is not closed: add }")
		}
		key := c.Val()
		if key == "}" {
			return oc, nil
		}
		if err := parseObserveProperty(c, oc, key, c.RemainingArgs()); err != nil {
			return nil, err
		}
	}
}

func parseObserveProperty(c *caddy.Controller, oc *observeConfig, key string, args []string) error {
	one := func() (string, error) {
		if len(args) != 1 {
			return "", c.Errf("observe: %s takes one value, got %d", key, len(args))
		}
		return args[0], nil
	}
	switch key {
	case "listen":
		v, err := one()
		if err != nil {
			return err
		}
		_, port, err := net.SplitHostPort(v)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 1 || n > 65535 {
			return c.Errf("observe: listen %q is not an address such as :9154 or 0.0.0.0:9154", v)
		}
		oc.listen = v
	case "max_entries":
		v, err := one()
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxMaxEntries {
			return c.Errf("observe: max_entries must be a whole number in [1, %d], not %q", maxMaxEntries, v)
		}
		oc.maxEntries = n
	case "search_suffixes":
		if len(args) == 0 {
			return c.Errf("observe: search_suffixes needs at least one domain, e.g. ec2.internal")
		}
		oc.searchSuffixes = nil
		for _, a := range args {
			name := canonicalName(strings.TrimPrefix(a, "."))
			if _, ok := dns.IsDomainName(name); !ok || name == "." || strings.Contains(name, "..") {
				return c.Errf("observe: search_suffixes %q is not a domain such as ec2.internal", a)
			}
			oc.searchSuffixes = append(oc.searchSuffixes, "."+name)
		}
	case "tls":
		if len(args) != 2 {
			return c.Errf("observe: tls takes a certificate file and a key file, got %d values", len(args))
		}
		oc.tlsCert, oc.tlsKey = args[0], args[1]
	case "event_interval":
		v, err := one()
		if err != nil {
			return err
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > 24*time.Hour {
			return c.Errf("observe: event_interval must be a duration from 1s to 24h, such as 10m, not %q", v)
		}
		oc.eventInterval = d
	case "{":
		return c.Err("observe: unexpected { inside the observe block")
	default:
		return c.Errf("observe: unknown property %q (known: listen, max_entries, search_suffixes, tls, event_interval)", key)
	}
	return nil
}
