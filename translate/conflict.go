package translate

import (
	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// Winner picks, among ExternalServices claiming one dnsName, the one that
// owns it: the oldest by creation time, ties broken by name. The controller
// and the DNS plugin both use it, so they always agree. It returns nil for an
// empty list.
func Winner(claimants []*egressv1.ExternalService) *egressv1.ExternalService {
	var w *egressv1.ExternalService
	for _, es := range claimants {
		if w == nil || older(es, w) {
			w = es
		}
	}
	return w
}

func older(a, b *egressv1.ExternalService) bool {
	ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a.Name < b.Name
}
