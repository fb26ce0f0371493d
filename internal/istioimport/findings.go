// Findings are what the report says was not carried over or changed. Read
// steps add them as they go; the same finding from several objects is
// merged into one that names them all.

package istioimport

import (
	"cmp"
	"slices"
)

// findings collects findings, merging those about the same thing.
type findings struct {
	byKey map[findingKey]*Finding
}

type findingKey struct {
	host   string
	port   int32
	reason string
	object ObjectRef // for findings about a whole object (no host)
}

func newFindings() *findings { return &findings{byKey: map[findingKey]*Finding{}} }

// add records a finding; a second one with the same host, port and reason
// only adds its objects.
func (f *findings) add(host string, port int32, reason, detail string, objects ...ObjectRef) {
	k := findingKey{host: host, port: port, reason: reason}
	if host == "" && len(objects) > 0 {
		k.object = objects[0]
	}
	existing := f.byKey[k]
	if existing == nil {
		existing = &Finding{Host: host, Port: port, Reason: reason, Detail: detail}
		f.byKey[k] = existing
	}
	for _, o := range objects {
		if o != (ObjectRef{}) && !slices.Contains(existing.Objects, o) {
			existing.Objects = append(existing.Objects, o)
		}
	}
}

// sorted returns the findings by host, port and reason, each with its
// objects sorted.
func (f *findings) sorted() []Finding {
	var out []Finding
	for _, x := range f.byKey {
		slices.SortFunc(x.Objects, compareRefs)
		out = append(out, *x)
	}
	slices.SortFunc(out, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Reason, b.Reason))
	})
	return out
}

// loss is something a rule or policy does that an ExternalService cannot.
type loss struct{ reason, detail string }

// lose records losses for each of hosts.
func (im *importer) lose(hosts []string, losses []loss, ref ObjectRef) {
	for _, h := range hosts {
		for _, l := range losses {
			im.notCarried.add(h, 0, l.reason, l.detail, ref)
		}
	}
}
