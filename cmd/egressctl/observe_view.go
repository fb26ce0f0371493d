package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/kubescheme"
)

// observeReport and observeEntry are the JSON the plugin's observe
// endpoint serves (dnsplugin.Report).
type observeReport struct {
	WorkloadsSynced bool           `json:"workloadsSynced"`
	MaxEntries      int            `json:"maxEntries"`
	Evictions       uint64         `json:"evictions"`
	Entries         []observeEntry `json:"entries"`
}

type observeEntry struct {
	Namespace       string    `json:"namespace,omitempty"`
	Kind            string    `json:"kind"`
	Workload        string    `json:"workload"`
	Name            string    `json:"name"`
	Type            string    `json:"type"`
	Rcode           string    `json:"rcode"`
	ExternalService string    `json:"externalService,omitempty"`
	AllowedFor      []string  `json:"allowedFor,omitempty"`
	FirstSeen       time.Time `json:"firstSeen"`
	LastSeen        time.Time `json:"lastSeen"`
	Count           uint64    `json:"count"`
}

// workloadView is what egressctl observe prints for one workload.
type workloadView struct {
	Namespace string `json:"namespace,omitempty"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	// Lookups are the names it looked up, sorted.
	Lookups []lookupView `json:"lookups"`
}

// lookupView is one workload's lookups of one name, all types together.
type lookupView struct {
	Name  string   `json:"name"`
	Types []string `json:"types"`
	// Rcode is that of the last answer.
	Rcode string `json:"rcode"`
	// ExternalService covers the name (owns its dnsName); "" when none.
	ExternalService string `json:"externalService,omitempty"`
	// Labelled says whether the workload's pods carry the client label of
	// ExternalService; absent without an ExternalService or for a source
	// that is no pod.
	Labelled  *bool     `json:"labelled,omitempty"`
	Count     uint64    `json:"count"`
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`

	allowedFor []string
}

func (w workloadView) isPod() bool { return w.Kind != "Node" && w.Kind != "Unknown" }

// String is "team/Deployment/web", or "Node/10.0.0.1".
func (w workloadView) String() string {
	if w.Namespace == "" {
		return w.Kind + "/" + w.Name
	}
	return w.Namespace + "/" + w.Kind + "/" + w.Name
}

// mergeReports joins the reports of several CoreDNS pods: counts add up,
// the first and last times widen, the last answer wins.
func mergeReports(reports []observeReport) []observeEntry {
	type key struct{ ns, kind, workload, name, qtype string }
	merged := map[key]*observeEntry{}
	for _, r := range reports {
		for _, e := range r.Entries {
			k := key{e.Namespace, e.Kind, e.Workload, e.Name, e.Type}
			m, ok := merged[k]
			if !ok {
				e := e
				merged[k] = &e
				continue
			}
			m.Count += e.Count
			if e.FirstSeen.Before(m.FirstSeen) {
				m.FirstSeen = e.FirstSeen
			}
			if e.LastSeen.After(m.LastSeen) {
				m.LastSeen, m.Rcode, m.ExternalService, m.AllowedFor = e.LastSeen, e.Rcode, e.ExternalService, e.AllowedFor
			}
		}
	}
	out := make([]observeEntry, 0, len(merged))
	for _, e := range merged {
		out = append(out, *e)
	}
	return out
}

// listExternalServices reads every ExternalService of the cluster.
func listExternalServices(ctx context.Context, cfg *rest.Config) ([]*egressv1.ExternalService, error) {
	scheme, err := kubescheme.New()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("connect to the cluster: %w", err)
	}
	var list egressv1.ExternalServiceList
	if err := c.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list ExternalServices: %w", err)
	}
	out := make([]*egressv1.ExternalService, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

// coverage maps each dnsName to the ExternalService that owns it, by the
// rule the controller and the plugin follow (egressv1.DNSNameOwner).
func coverage(services []*egressv1.ExternalService) map[string]string {
	claimants := map[string][]*egressv1.ExternalService{}
	for _, es := range services {
		name := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(es.Spec.DnsName), "."))
		claimants[name] = append(claimants[name], es)
	}
	out := map[string]string{}
	for name, list := range claimants {
		if owner := egressv1.DNSNameOwner(list); owner != nil {
			out[name] = owner.Name
		}
	}
	return out
}

// buildViews groups the entries by workload and name.
func buildViews(entries []observeEntry, services []*egressv1.ExternalService) []workloadView {
	covered := coverage(services)
	type wkey struct{ ns, kind, name string }
	byWorkload := map[wkey]map[string]*lookupView{}
	for _, e := range entries {
		wk := wkey{e.Namespace, e.Kind, e.Workload}
		if byWorkload[wk] == nil {
			byWorkload[wk] = map[string]*lookupView{}
		}
		name := strings.TrimSuffix(e.Name, ".")
		l, ok := byWorkload[wk][name]
		if !ok {
			l = &lookupView{Name: name, FirstSeen: e.FirstSeen, LastSeen: e.LastSeen, Rcode: e.Rcode, allowedFor: e.AllowedFor}
			byWorkload[wk][name] = l
		}
		l.Types = append(l.Types, e.Type)
		l.Count += e.Count
		l.FirstSeen = minTime(l.FirstSeen, e.FirstSeen)
		if e.LastSeen.After(l.LastSeen) {
			l.LastSeen, l.Rcode, l.allowedFor = e.LastSeen, e.Rcode, e.AllowedFor
		}
	}
	var out []workloadView
	for wk, names := range byWorkload {
		w := workloadView{Namespace: wk.ns, Kind: wk.kind, Name: wk.name}
		for _, l := range names {
			slices.Sort(l.Types)
			l.Types = slices.Compact(l.Types)
			l.ExternalService = covered[l.Name]
			if l.ExternalService != "" && w.isPod() {
				labelled := slices.Contains(l.allowedFor, l.ExternalService)
				l.Labelled = &labelled
			}
			w.Lookups = append(w.Lookups, *l)
		}
		slices.SortFunc(w.Lookups, func(a, b lookupView) int { return cmp.Compare(a.Name, b.Name) })
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b workloadView) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	return out
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// writeViews prints the views as a table, or as YAML or JSON with times.
func writeViews(w io.Writer, format string, views []workloadView) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"workloads": nonNilViews(views)})
	case "yaml":
		b, err := yaml.Marshal(map[string]any{"workloads": nonNilViews(views)})
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKLOAD\tNAME\tTYPES\tANSWER\tEXTERNALSERVICE\tLABELLED\tLOOKUPS")
	for _, v := range views {
		for _, l := range v.Lookups {
			labelled := "-"
			if l.Labelled != nil {
				labelled = map[bool]string{true: "yes", false: "no"}[*l.Labelled]
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", v, l.Name, strings.Join(l.Types, ","), l.Rcode, orDash(l.ExternalService), labelled, l.Count)
		}
	}
	return tw.Flush()
}

func nonNilViews(v []workloadView) []workloadView {
	if v == nil {
		return []workloadView{}
	}
	return v
}
