package v1

import "strings"

// Who owns a dnsName. Several ExternalServices may name the same dnsName;
// exactly one of them owns it. The operator generates a gateway only for the
// owner (the others get Conflicted=True) and the DNS plugin hijacks the name
// only for the owner. Both call DNSNameOwner on the same list of claimants,
// so they cannot disagree.

// ClaimsDNSName reports whether es takes part in choosing the owner of its
// dnsName. An ExternalService that is being deleted has given its name up,
// even while its finalizer keeps it in the API: the next claimant takes over
// as soon as the deletion starts.
func (es *ExternalService) ClaimsDNSName() bool {
	return es.DeletionTimestamp.IsZero()
}

// DNSNameOwner returns the owner among ExternalServices that name the same
// dnsName: of those that claim it (ClaimsDNSName), the oldest by creation
// time, ties broken by name. It returns nil when none claims it. Creation
// timestamps have one-second resolution, so two objects created in the same
// second are ordered by name.
func DNSNameOwner(claimants []*ExternalService) *ExternalService {
	var owner *ExternalService
	for _, es := range claimants {
		if !es.ClaimsDNSName() {
			continue
		}
		if owner == nil || createdBefore(es, owner) {
			owner = es
		}
	}
	return owner
}

func createdBefore(a, b *ExternalService) bool {
	ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a.Name < b.Name
}

// InClusterDomain reports whether name is the cluster domain or a name below
// it (so it belongs to the cluster's own DNS, and no ExternalService may take
// it). Both are compared case-insensitively, with or without a trailing dot.
// An empty domain contains nothing.
func InClusterDomain(name, domain string) bool {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	domain = strings.Trim(strings.ToLower(domain), ".")
	if domain == "" || name == "" {
		return false
	}
	return name == domain || strings.HasSuffix(name, "."+domain)
}
