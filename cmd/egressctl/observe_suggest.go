package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/istioimport"
)

// parsePorts reads --ports: PORT/PROTOCOL separated by commas.
func parsePorts(s string) ([]egressv1.ExternalServicePort, error) {
	var out []egressv1.ExternalServicePort
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		port, proto, ok := strings.Cut(item, "/")
		n, err := strconv.Atoi(port)
		p := egressv1.Protocol(strings.ToUpper(proto))
		if !ok || err != nil || n < 1 || n > 65535 || (p != egressv1.ProtocolTLS && p != egressv1.ProtocolTCP && p != egressv1.ProtocolUDP) {
			return nil, fmt.Errorf("--ports %q: write PORT/PROTOCOL pairs separated by commas, e.g. 443/TLS,22/TCP (protocols TLS, TCP, UDP)", s)
		}
		out = append(out, egressv1.ExternalServicePort{Port: int32(n), Protocol: &p})
	}
	return out, nil
}

// suggestion is one uncovered name: the ExternalService to create, who
// looked the name up, or why none is suggested.
type suggestion struct {
	name    string
	by      []string
	answers []string
	es      map[string]any // nil: not suggested
	why     string
}

// writeSuggestions prints an ExternalService for every uncovered name that
// resolved, then the label patches that let each workload use the
// ExternalServices covering the names it looked up.
func writeSuggestions(ctx context.Context, w io.Writer, views []workloadView, ports []egressv1.ExternalServicePort) error {
	suggestions, err := suggestExternalServices(ctx, views, ports)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(w)
	var portText []string
	for _, p := range ports {
		portText = append(portText, fmt.Sprintf("%d/%s", p.Port, *p.Protocol))
	}
	fmt.Fprintf(out, "# ExternalServices for the names no ExternalService covers, one per name.\n")
	fmt.Fprintf(out, "# Ports %s (--ports): check what the workloads connect to.\n", strings.Join(portText, ", "))
	fmt.Fprintf(out, "# hijackDns is off: apply the label patches at the end first, then turn it on.\n")
	created := map[string]string{} // dnsName → ExternalService name
	for _, s := range suggestions {
		if s.es == nil {
			fmt.Fprintf(out, "---\n# not suggested: %s (%s), looked up by %s\n", s.name, s.why, strings.Join(s.by, ", "))
			continue
		}
		b, err := yaml.Marshal(s.es)
		if err != nil {
			return err
		}
		created[s.name] = s.es["metadata"].(map[string]any)["name"].(string)
		fmt.Fprintf(out, "---\n# looked up by %s\n%s", strings.Join(s.by, ", "), b)
	}
	fmt.Fprintln(out, "---")
	writePatches(out, views, created)
	return out.Flush()
}

// suggestExternalServices makes the ExternalService of every uncovered
// name, sorted by name, each admitted by the CRD's rules offline.
func suggestExternalServices(ctx context.Context, views []workloadView, ports []egressv1.ExternalServicePort) ([]suggestion, error) {
	byName := map[string]*suggestion{}
	for _, v := range views {
		for _, l := range v.Lookups {
			if l.ExternalService != "" {
				continue
			}
			s := byName[l.Name]
			if s == nil {
				s = &suggestion{name: l.Name}
				byName[l.Name] = s
			}
			s.by = append(s.by, v.String())
			if !slices.Contains(s.answers, l.Rcode) {
				s.answers = append(s.answers, l.Rcode)
			}
		}
	}
	admitter, err := crdAdmitter()
	if err != nil {
		return nil, err
	}
	taken := map[string]string{}
	var out []suggestion
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		s := byName[name]
		slices.Sort(s.by)
		if !slices.Contains(s.answers, "NOERROR") {
			s.why = "answered " + strings.Join(s.answers, ", ") + ": it does not resolve"
			out = append(out, *s)
			continue
		}
		esName := istioimport.NameForHost(name)
		if other, clash := taken[esName]; clash && other != name {
			esName = istioimport.NameWithHash(esName, name)
		}
		es := &egressv1.ExternalService{
			TypeMeta:   metav1.TypeMeta{APIVersion: egressv1.GroupVersion.String(), Kind: "ExternalService"},
			ObjectMeta: metav1.ObjectMeta{Name: esName},
			Spec:       egressv1.ExternalServiceSpec{DnsName: name, Ports: ports},
		}
		doc, err := toDocument(es)
		if err != nil {
			return nil, err
		}
		probe, err := toDocument(es)
		if err != nil {
			return nil, err
		}
		if errs := admitter.Admit(ctx, probe); len(errs) > 0 {
			s.why = "the API server would refuse it: " + errs.ToAggregate().Error()
			out = append(out, *s)
			continue
		}
		taken[esName] = name
		s.es = doc
		out = append(out, *s)
	}
	return out, nil
}

// writePatches prints, per workload, the command that adds the client
// labels it lacks to its pod template.
func writePatches(w io.Writer, views []workloadView, created map[string]string) {
	fmt.Fprintln(w, "# Client labels the workloads lack, for the ExternalServices above and those")
	fmt.Fprintln(w, "# that already cover the names they look up:")
	printed := false
	for _, v := range views {
		need := map[string]bool{}
		for _, l := range v.Lookups {
			switch {
			case l.ExternalService != "" && (l.Labelled == nil || !*l.Labelled):
				need[l.ExternalService] = true
			case l.ExternalService == "" && created[l.Name] != "":
				need[created[l.Name]] = true
			}
		}
		if len(need) == 0 {
			continue
		}
		printed = true
		labels := map[string]string{}
		for _, es := range slices.Sorted(maps.Keys(need)) {
			labels[egressv1.AllowedLabel(es)] = "true"
		}
		fmt.Fprintln(w, "# "+patchCommand(v, labels))
	}
	if !printed {
		fmt.Fprintln(w, "# none")
	}
}

// patchCommand is the kubectl command that gives v's pods labels.
func patchCommand(v workloadView, labels map[string]string) string {
	lb, _ := json.Marshal(labels) // keys are sorted
	template := fmt.Sprintf(`{"metadata":{"labels":%s}}`, lb)
	resource := strings.ToLower(v.Kind)
	switch v.Kind {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet":
		return fmt.Sprintf(`kubectl -n %s patch %s %s --type=strategic -p '{"spec":{"template":%s}}'`, v.Namespace, resource, v.Name, template)
	case "CronJob":
		return fmt.Sprintf(`kubectl -n %s patch cronjob %s --type=strategic -p '{"spec":{"jobTemplate":{"spec":{"template":%s}}}}'`, v.Namespace, v.Name, template)
	case "Pod":
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(labels)) {
			kv = append(kv, k+"="+labels[k])
		}
		return fmt.Sprintf("kubectl -n %s label pod %s %s   (a bare pod: put the label where the pod is defined too)", v.Namespace, v.Name, strings.Join(kv, " "))
	case "Node", "Unknown":
		return fmt.Sprintf("%s: not a pod; hostNetwork pods and unknown sources cannot carry client labels (%s)", v, lb)
	default:
		return fmt.Sprintf("%s: add %s to the labels of its pod template where it is defined (a Job's template cannot change)", v, lb)
	}
}
