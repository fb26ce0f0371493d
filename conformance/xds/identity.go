package xds

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
	corev1 "k8s.io/api/core/v1"
)

// Node types istiod knows: a gateway is a router, a workload's proxy a
// sidecar.
const (
	Router  = "router"
	Sidecar = "sidecar"
)

// ProxyContainer is the container that runs Istio's proxy in a gateway pod.
const ProxyContainer = "istio-proxy"

// istioVersion is how istiod reads ISTIO_VERSION (model.ParseIstioVersion):
// major.minor, optionally .patch, at the start.
var istioVersion = regexp.MustCompile(`^[1-9][0-9]*\.[0-9]+(\.[0-9]+)?`)

// Identity is who the reader says it is: what pilot-agent in the pod would
// put in Envoy's node on the discovery stream.
type Identity struct {
	// Type is Router or Sidecar.
	Type string
	// PodName and Namespace name the pod. istiod finds the pod, and so its
	// labels and the Services that select it, only from
	// "<PodName>.<Namespace>" in the node id together with a NAMESPACE
	// that equals Namespace (finding it by IP is off by default).
	PodName, Namespace string
	// IPs are the pod's IPs (INSTANCE_IPS); the first is in the node id.
	IPs []string
	// DNSDomain ends the node id: "<namespace>.svc.<cluster domain>".
	DNSDomain string
	// IstioVersion is the proxy's version (ISTIO_VERSION). istiod
	// generates for that version; an empty one means "the newest", which
	// changes what it generates, so it is required.
	IstioVersion string
	// ClusterID is istiod's cluster name for the pod's cluster; empty
	// means istiod's own. Any other value finds no pod.
	ClusterID string
	// Labels are the pod's labels (LABELS), pod-template-hash left out
	// as pilot-agent does.
	Labels map[string]string
	// Metadata holds the other node metadata, as pilot-agent forwards the
	// pod's ISTIO_META_* variables (the prefix cut off).
	Metadata map[string]string
}

// GatewayIdentity is the identity of the proxy in a gateway pod istiod
// deployed, read from the pod as pilot-agent reads it: the node type and
// DNS domain from the proxy's arguments ("proxy router --domain
// $(POD_NAMESPACE).svc.cluster.local"), ISTIO_VERSION from the proxy
// image's tag (the version pilot-agent was built as), and every
// ISTIO_META_* variable of the proxy container. clusterDomain is used
// when the arguments name no domain.
func GatewayIdentity(pod *corev1.Pod, clusterDomain string) (Identity, error) {
	var proxy *corev1.Container
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == ProxyContainer {
			proxy = &pod.Spec.Containers[i]
		}
	}
	if proxy == nil {
		return Identity{}, fmt.Errorf("pod %s/%s has no %s container", pod.Namespace, pod.Name, ProxyContainer)
	}
	id := podIdentity(pod, clusterDomain)
	id.Type = Router
	if len(proxy.Args) > 1 && proxy.Args[0] == "proxy" {
		id.Type = proxy.Args[1]
	}
	for i, a := range proxy.Args {
		if a == "--domain" && i+1 < len(proxy.Args) {
			id.DNSDomain = strings.ReplaceAll(proxy.Args[i+1], "$(POD_NAMESPACE)", pod.Namespace)
		}
	}
	id.IstioVersion = imageVersion(proxy.Image)
	if id.IstioVersion == "" {
		return Identity{}, fmt.Errorf("pod %s/%s: the %s image %q has no Istio version as its tag; set Identity.IstioVersion yourself", pod.Namespace, pod.Name, ProxyContainer, proxy.Image)
	}
	for _, e := range proxy.Env {
		key, ok := strings.CutPrefix(e.Name, "ISTIO_META_")
		if !ok {
			continue
		}
		v := e.Value
		if e.ValueFrom != nil {
			if e.ValueFrom.FieldRef == nil {
				continue
			}
			var known bool
			if v, known = fieldValue(pod, e.ValueFrom.FieldRef.FieldPath); !known {
				continue
			}
		}
		if key == "CLUSTER_ID" {
			id.ClusterID = v
			continue
		}
		id.Metadata[key] = v
	}
	return id, nil
}

// SidecarIdentity is the identity of a sidecar proxy in pod, of the given
// Istio version, as if Istio had injected one.
func SidecarIdentity(pod *corev1.Pod, clusterDomain, version string) Identity {
	id := podIdentity(pod, clusterDomain)
	id.Type = Sidecar
	id.IstioVersion = version
	id.Metadata["INTERCEPTION_MODE"] = "REDIRECT"
	return id
}

func podIdentity(pod *corev1.Pod, clusterDomain string) Identity {
	id := Identity{
		PodName:   pod.Name,
		Namespace: pod.Namespace,
		DNSDomain: pod.Namespace + ".svc." + clusterDomain,
		Labels:    maps.Clone(pod.Labels),
		Metadata: map[string]string{
			"NAME":            pod.Name,
			"SERVICE_ACCOUNT": pod.Spec.ServiceAccountName,
			"NODE_NAME":       pod.Spec.NodeName,
		},
	}
	delete(id.Labels, "pod-template-hash")
	for _, ip := range pod.Status.PodIPs {
		id.IPs = append(id.IPs, ip.IP)
	}
	if len(id.IPs) == 0 && pod.Status.PodIP != "" {
		id.IPs = []string{pod.Status.PodIP}
	}
	return id
}

// fieldValue resolves the downward-API fields the injection templates use.
func fieldValue(pod *corev1.Pod, path string) (string, bool) {
	switch path {
	case "metadata.name":
		return pod.Name, true
	case "metadata.namespace":
		return pod.Namespace, true
	case "spec.nodeName":
		return pod.Spec.NodeName, true
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, true
	case "status.podIP":
		return pod.Status.PodIP, true
	case "status.hostIP":
		return pod.Status.HostIP, true
	}
	return "", false
}

// imageVersion is the Istio version in an image reference's tag
// ("docker.io/istio/proxyv2:1.31.1" → "1.31.1"), or "".
func imageVersion(image string) string {
	image, _, _ = strings.Cut(image, "@")
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return ""
	}
	return istioVersion.FindString(image[i+1:])
}

// NodeID is the node id pilot-agent sends:
// "<type>~<first IP>~<pod>.<namespace>~<DNS domain>".
func (id Identity) NodeID() string {
	ip := ""
	if len(id.IPs) > 0 {
		ip = id.IPs[0]
	}
	return strings.Join([]string{id.Type, ip, id.PodName + "." + id.Namespace, id.DNSDomain}, "~")
}

// node is Envoy's node for the identity.
func (id Identity) node() (*corev3.Node, error) {
	var errs []error
	if id.Type != Router && id.Type != Sidecar {
		errs = append(errs, fmt.Errorf("node type %q is neither %s nor %s", id.Type, Router, Sidecar))
	}
	if id.PodName == "" || id.Namespace == "" {
		errs = append(errs, errors.New("pod name and namespace are required: istiod finds the pod by them"))
	}
	if len(id.IPs) == 0 {
		errs = append(errs, errors.New("the pod has no IP yet"))
	}
	if istioVersion.FindString(id.IstioVersion) == "" {
		errs = append(errs, fmt.Errorf("ISTIO_VERSION %q is not a version: istiod would generate for the newest proxy", id.IstioVersion))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("identity %s: %w", id.NodeID(), err)
	}
	meta := map[string]any{}
	for k, v := range id.Metadata {
		meta[k] = v
	}
	labels := map[string]any{}
	for k, v := range id.Labels {
		labels[k] = v
	}
	meta["NAMESPACE"] = id.Namespace
	meta["INSTANCE_IPS"] = strings.Join(id.IPs, ",")
	meta["ISTIO_VERSION"] = id.IstioVersion
	meta["CLUSTER_ID"] = id.ClusterID
	meta["LABELS"] = labels
	s, err := structpb.NewStruct(meta)
	if err != nil {
		return nil, fmt.Errorf("identity %s: node metadata: %w", id.NodeID(), err)
	}
	return &corev3.Node{
		Id:            id.NodeID(),
		Metadata:      s,
		UserAgentName: "envoy",
	}, nil
}
