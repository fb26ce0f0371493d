// Every input object ends in one list of the report. Read steps record
// which hosts an object is about (use, block, ignore); once the
// ExternalServices are built, sortObjects puts each object in delete,
// keep, generated or ignored.

package istioimport

import (
	"cmp"
	"maps"
	"slices"
	"strings"
)

// objectUse records which hosts an input object is about.
type objectUse struct {
	hosts map[string]bool
	// blocked are hosts or names it carries that no ExternalService can
	// take (wildcards, in-cluster names): the object must stay.
	blocked map[string]bool
}

// use records that ref is about host.
func (im *importer) use(ref ObjectRef, hosts ...string) {
	u := im.useOf(ref)
	for _, h := range hosts {
		u.hosts[h] = true
	}
}

// block records that ref carries name, which is not carried over.
func (im *importer) block(ref ObjectRef, name string) {
	im.useOf(ref).blocked[name] = true
}

func (im *importer) useOf(ref ObjectRef) *objectUse {
	u := im.uses[ref]
	if u == nil {
		u = &objectUse{hosts: map[string]bool{}, blocked: map[string]bool{}}
		im.uses[ref] = u
	}
	return u
}

// ignore records why an object is not egress configuration; the first
// reason wins, and an object another step used is reported by that use.
func (im *importer) ignore(ref ObjectRef, why string) {
	if _, ok := im.ignored[ref]; !ok {
		im.ignored[ref] = why
	}
}

// objectsOf lists the input objects about host.
func (im *importer) objectsOf(host string) []ObjectRef {
	var refs []ObjectRef
	for ref, u := range im.uses {
		if u.hosts[host] {
			refs = append(refs, ref)
		}
	}
	slices.SortFunc(refs, compareRefs)
	return refs
}

// sortObjects puts every input object in one list of the report: delete,
// keep, generated or ignored.
func (im *importer) sortObjects(rep *Report, replaced, notReplaced map[string]string) {
	seen := map[ObjectRef]bool{}
	for _, ref := range im.in.all {
		if seen[ref] {
			continue
		}
		seen[ref] = true
		if u, ok := im.in.unread[ref]; ok {
			if u.egress {
				im.notCarried.add("", 0, "not read", ref.short()+": "+u.why, ref)
			} else {
				rep.Ignored = append(rep.Ignored, Note{ref, u.why})
			}
			continue
		}
		u := im.uses[ref]
		switch {
		case im.keep[ref] != "":
			rep.Keep = append(rep.Keep, Note{ref, im.keep[ref]})
		case u == nil || len(u.hosts)+len(u.blocked) == 0:
			rep.Ignored = append(rep.Ignored, Note{ref, cmp.Or(im.ignored[ref], "names no external host")})
		case im.generated[ref] != "":
			rep.Generated = append(rep.Generated, ref)
		default:
			if why := stillNeeded(u, replaced, notReplaced); why != "" {
				rep.Keep = append(rep.Keep, Note{ref, why})
			} else {
				rep.Delete = append(rep.Delete, ref)
			}
		}
	}
	for _, list := range [][]Note{rep.Keep, rep.Ignored} {
		slices.SortFunc(list, func(a, b Note) int { return compareRefs(a.Object, b.Object) })
	}
	slices.SortFunc(rep.Delete, compareRefs)
	slices.SortFunc(rep.Generated, compareRefs)
}

// stillNeeded says why an object must stay, or "" when the
// ExternalServices replace everything it does.
func stillNeeded(u *objectUse, replaced, notReplaced map[string]string) string {
	var why []string
	for _, b := range slices.Sorted(maps.Keys(u.blocked)) {
		why = append(why, "it also carries "+b+", which was not carried over")
	}
	for _, h := range slices.Sorted(maps.Keys(u.hosts)) {
		if _, ok := replaced[h]; !ok {
			why = append(why, cmp.Or(notReplaced[h], "no ExternalService replaces it for "+h))
		}
	}
	return strings.Join(why, "; ")
}
