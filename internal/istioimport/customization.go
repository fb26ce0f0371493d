package istioimport

import (
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/translate"
)

// gatewaySettings are the per-gateway settings an ExternalService carries,
// read back from a Gateway API Gateway and the ConfigMap of Istio gateway
// customizations its infrastructure.parametersRef names (egressgate
// generates both as "<name>" and "<name>-options").
type gatewaySettings struct {
	minReplicas, maxReplicas, targetCPU *int32
	resources                           *corev1.ResourceRequirements
	logLevel                            string
	topologyMode                        string
	trafficDistribution                 string
	from                                []ObjectRef
}

// readGatewayCustomizations reads the settings of the Gateway API
// Gateways that carry imported hosts.
func (im *importer) readGatewayCustomizations() {
	done := map[ObjectRef]map[string]bool{}
	for _, g := range im.gatewayLegs {
		gw := im.gatewayAPIGateway(g.gateway)
		if gw == nil || done[g.gateway][g.host] {
			continue
		}
		if done[g.gateway] == nil {
			done[g.gateway] = map[string]bool{}
		}
		done[g.gateway][g.host] = true
		h := im.hosts[g.host]
		s := gatewaySettings{logLevel: gw.Annotations[translate.AnnotationLogLevel]}
		if s.logLevel != "" {
			s.from = append(s.from, g.gateway)
		}
		if infra := gw.Spec.Infrastructure; infra != nil && infra.ParametersRef != nil &&
			infra.ParametersRef.Group == "" && infra.ParametersRef.Kind == "ConfigMap" {
			cmRef := ObjectRef{Kind: "ConfigMap", Namespace: gw.Namespace, Name: infra.ParametersRef.Name}
			if cm := im.configMap(cmRef); cm != nil {
				im.use(cmRef, g.host)
				im.readOptionsConfigMap(cm, cmRef, g.host, &s)
			}
		}
		h.settings.merge(s)
	}
}

// readGeneratedLeftovers ties the objects egressgate generated that no
// route or ServiceEntry leads to (its NetworkPolicies, an options
// ConfigMap whose Gateway is missing) to the host of their ExternalService.
func (im *importer) readGeneratedLeftovers() {
	hostsOf := map[string][]string{} // ExternalService name → hosts
	for ref, name := range im.generated {
		if u := im.uses[ref]; u != nil {
			for h := range u.hosts {
				if !slices.Contains(hostsOf[name], h) {
					hostsOf[name] = append(hostsOf[name], h)
				}
			}
		}
	}
	for ref, name := range im.generated {
		if im.uses[ref] == nil {
			im.use(ref, hostsOf[name]...)
		}
	}
}

func (im *importer) configMap(ref ObjectRef) *corev1.ConfigMap {
	for _, cm := range im.in.configMaps {
		if cm.Namespace == ref.Namespace && cm.Name == ref.Name {
			return cm
		}
	}
	return nil
}

// readOptionsConfigMap reads the horizontalPodAutoscaler, deployment and
// service customizations. Keys and fields that are the operator's own
// settings (scheduling, PodDisruptionBudget) are not per ExternalService
// and are skipped.
func (im *importer) readOptionsConfigMap(cm *corev1.ConfigMap, ref ObjectRef, host string, s *gatewaySettings) {
	bad := func(key string, err error) {
		im.notCarried.add(host, 0, "gateway customization", fmt.Sprintf(
			"%s key %s could not be read (%v); its settings are left at their defaults", ref.short(), key, err), ref)
	}
	s.from = append(s.from, ref)
	if data := cm.Data["horizontalPodAutoscaler"]; data != "" {
		hpa := &autoscalingv2.HorizontalPodAutoscaler{}
		if err := yaml.Unmarshal([]byte(data), hpa); err != nil {
			bad("horizontalPodAutoscaler", err)
		} else {
			s.minReplicas = hpa.Spec.MinReplicas
			if hpa.Spec.MaxReplicas > 0 {
				s.maxReplicas = new(hpa.Spec.MaxReplicas)
			}
			for _, m := range hpa.Spec.Metrics {
				if m.Resource != nil && m.Resource.Name == corev1.ResourceCPU && m.Resource.Target.AverageUtilization != nil {
					s.targetCPU = m.Resource.Target.AverageUtilization
				}
			}
		}
	}
	if data := cm.Data["deployment"]; data != "" {
		d := &appsv1.Deployment{}
		if err := yaml.Unmarshal([]byte(data), d); err != nil {
			bad("deployment", err)
		} else {
			for _, c := range d.Spec.Template.Spec.Containers {
				if c.Name == "istio-proxy" && (len(c.Resources.Requests) > 0 || len(c.Resources.Limits) > 0) {
					s.resources = &corev1.ResourceRequirements{Requests: c.Resources.Requests, Limits: c.Resources.Limits}
				}
			}
		}
	}
	if data := cm.Data["service"]; data != "" {
		svc := &corev1.Service{}
		if err := yaml.Unmarshal([]byte(data), svc); err != nil {
			bad("service", err)
		} else {
			s.topologyMode = svc.Annotations[translate.AnnotationTopologyMode]
			s.trafficDistribution = derefString(svc.Spec.TrafficDistribution)
		}
	}
}

// merge fills the settings s does not have yet from o: the first Gateway
// read for a host wins.
func (s *gatewaySettings) merge(o gatewaySettings) {
	s.minReplicas = firstSet(s.minReplicas, o.minReplicas)
	s.maxReplicas = firstSet(s.maxReplicas, o.maxReplicas)
	s.targetCPU = firstSet(s.targetCPU, o.targetCPU)
	s.resources = firstSet(s.resources, o.resources)
	s.logLevel = cmpOr(s.logLevel, o.logLevel)
	s.topologyMode = cmpOr(s.topologyMode, o.topologyMode)
	s.trafficDistribution = cmpOr(s.trafficDistribution, o.trafficDistribution)
	s.from = append(s.from, o.from...)
}

func firstSet[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Enumerations of the ExternalService API, for settings read back.
var (
	logLevels            = []string{"trace", "debug", "info", "warning", "warn", "error", "critical", "off"}
	trafficDistributions = []string{"PreferClose", "PreferSameZone", "PreferSameNode"}
)

// applySettings copies the gateway settings of h into es, leaving out
// values equal to the API's defaults and reporting values the API would
// refuse.
func (im *importer) applySettings(es *egressv1.ExternalService, h *hostState) {
	s := h.settings
	invalid := func(what string) {
		im.notCarried.add(h.name, 0, "invalid setting", what+": the ExternalService API refuses it, so the default is used", s.from...)
	}
	spec := &es.Spec
	if s.minReplicas != nil && *s.minReplicas != egressv1.DefaultMinReplicas {
		spec.MinReplicas = s.minReplicas
	}
	if s.maxReplicas != nil && *s.maxReplicas != egressv1.DefaultMaxReplicas {
		spec.MaxReplicas = s.maxReplicas
	}
	if spec.MinReplicas != nil && *spec.MinReplicas < 1 {
		invalid(fmt.Sprintf("minReplicas %d", *spec.MinReplicas))
		spec.MinReplicas = nil
	}
	if min, max := valueOr(spec.MinReplicas, egressv1.DefaultMinReplicas), valueOr(spec.MaxReplicas, egressv1.DefaultMaxReplicas); min > max {
		invalid(fmt.Sprintf("minReplicas %d above maxReplicas %d", min, max))
		spec.MinReplicas, spec.MaxReplicas = nil, nil
	}
	if t := s.targetCPU; t != nil && *t != egressv1.DefaultTargetCPUUtilizationPercentage {
		if *t < 1 || *t > 100 {
			invalid(fmt.Sprintf("target CPU utilization %d%%", *t))
		} else {
			spec.TargetCPUUtilizationPercentage = t
		}
	}
	if s.resources != nil && !apiequality.Semantic.DeepEqual(*s.resources, egressv1.DefaultResources()) {
		spec.Resources = s.resources
	}
	if s.logLevel != "" {
		if slices.Contains(logLevels, s.logLevel) {
			spec.EnvoyLogLevel = s.logLevel
		} else {
			invalid(fmt.Sprintf("log level %q", s.logLevel))
		}
	}
	if s.topologyMode != "" {
		if len(s.topologyMode) > 63 {
			invalid(fmt.Sprintf("topology mode %q", s.topologyMode))
		} else {
			spec.ServiceTopologyMode = s.topologyMode
		}
	}
	if s.trafficDistribution != "" {
		if slices.Contains(trafficDistributions, s.trafficDistribution) {
			spec.ServiceTrafficDistribution = s.trafficDistribution
		} else {
			invalid(fmt.Sprintf("trafficDistribution %q", s.trafficDistribution))
		}
	}
}

func valueOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}
