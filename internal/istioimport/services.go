package istioimport

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// readExternalNameServices declares the external host of every
// ExternalName Service with the Service's ports. Clients called the
// Service's in-cluster name, which an ExternalService cannot take.
func (im *importer) readExternalNameServices() {
	for _, svc := range im.in.services {
		ref := ObjectRef{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name}
		if svc.Spec.Type != corev1.ServiceTypeExternalName {
			im.ignore(ref, fmt.Sprintf("a %s Service, not an ExternalName one", serviceType(svc)))
			continue
		}
		host := normalizeHost(svc.Spec.ExternalName, svc.Namespace, im.opts.Operator.ClusterDomain)
		alias := svc.Name + "." + svc.Namespace + ".svc." + im.opts.Operator.ClusterDomain
		if looksInCluster(host, im.opts.Operator.ClusterDomain) {
			im.ignore(ref, "an alias of "+host+", which is inside the cluster")
			continue
		}
		if !im.acceptHost(host, ref) {
			continue
		}
		im.aliases[alias] = host
		h := im.host(host)
		im.use(ref, host)
		for _, p := range svc.Spec.Ports {
			h.declare(declaredPort{
				number:   p.Port,
				protocol: serviceProtocol(string(p.Protocol), derefString(p.AppProtocol), p.Name),
				from:     ref,
			})
		}
		h.declaredIn[svc.Namespace] = true
		im.notCarried.add(host, 0, "Service alias", fmt.Sprintf(
			"clients called %s, an ExternalName alias of %s; an ExternalService takes only the external name: change the clients to call %s",
			alias, host, host), ref)
		im.keep[ref] = fmt.Sprintf("until no client calls %s any more; then delete it", alias)
		h.clients = append(h.clients, clientScope{false, "every pod that calls " + alias, ref.short()})
	}
}

func serviceType(svc *corev1.Service) corev1.ServiceType {
	if svc.Spec.Type == "" {
		return corev1.ServiceTypeClusterIP
	}
	return svc.Spec.Type
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
