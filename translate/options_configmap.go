package translate

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// Service annotation for topology-aware routing.
const AnnotationTopologyMode = "service.kubernetes.io/topology-mode"

// gatewayOptions is the ConfigMap of Istio gateway customizations the
// Gateway's parametersRef names. Istio applies each key as a strategic merge
// patch onto the object its gateway template renders (see istio.io/istio
// pilot/pkg/config/kube/gatewaycommon, applyOverlay).
func (t *translation) gatewayOptions() *corev1.ConfigMap {
	data := map[string]string{
		"horizontalPodAutoscaler": mustYAML(t.hpaOverlay()),
		"deployment":              mustYAML(t.deploymentOverlay()),
	}
	if svc := t.serviceOverlay(); svc != nil {
		data["service"] = mustYAML(svc)
	}
	if t.opts.EnablePodDisruptionBudgets {
		data["podDisruptionBudget"] = mustYAML(obj{"spec": obj{"maxUnavailable": "25%"}})
	}
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: t.meta(egressv1.OptionsConfigMapName(t.es.Name)),
		Data:       data,
	}
}

type obj = map[string]any

func (t *translation) hpaOverlay() obj {
	return obj{"spec": obj{
		"minReplicas": *t.spec.MinReplicas,
		"maxReplicas": *t.spec.MaxReplicas,
		"metrics": []obj{{
			"type": "Resource",
			"resource": obj{
				"name":   "cpu",
				"target": obj{"type": "Utilization", "averageUtilization": *t.spec.TargetCPUUtilizationPercentage},
			},
		}},
	}}
}

func (t *translation) deploymentOverlay() obj {
	s := t.opts.Scheduling
	pod := obj{"containers": []obj{{"name": "istio-proxy", "resources": t.spec.Resources}}}
	if s.NodeSelectorKey != "" {
		pod["nodeSelector"] = obj{s.NodeSelectorKey: s.NodeSelectorValue}
	}
	if s.TaintTolerationKey != "" {
		pod["tolerations"] = []corev1.Toleration{{
			Key: s.TaintTolerationKey, Value: s.TaintTolerationValue,
			Operator: corev1.TolerationOpEqual, Effect: corev1.TaintEffectNoSchedule,
		}}
	}
	if s.EnablePodTopologySpread {
		var spread []corev1.TopologySpreadConstraint
		selector := &metav1.LabelSelector{MatchLabels: map[string]string{egressv1.LabelApp: egressv1.AppValue, egressv1.LabelGateway: t.es.Name}}
		for _, c := range []struct {
			key  string
			skew int32
		}{{s.ZoneTopologyKey, s.ZoneMaxSkew}, {s.HostnameTopologyKey, s.HostnameMaxSkew}} {
			if c.skew > 0 {
				spread = append(spread, corev1.TopologySpreadConstraint{
					MaxSkew: c.skew, TopologyKey: c.key, WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: selector,
				})
			}
		}
		if len(spread) > 0 {
			pod["topologySpreadConstraints"] = spread
		}
	}
	return obj{"spec": obj{"template": obj{"spec": pod}}}
}

// serviceOverlay sets topology-aware routing and traffic distribution, or is
// nil when neither applies.
func (t *translation) serviceOverlay() obj {
	svc := obj{}
	mode := ""
	if t.opts.Scheduling.EnableServiceTopologyMode {
		mode = "auto"
	}
	if t.spec.ServiceTopologyMode != "" {
		mode = t.spec.ServiceTopologyMode
	}
	if mode != "" {
		svc["metadata"] = obj{"annotations": obj{AnnotationTopologyMode: mode}}
	}
	if d := t.spec.ServiceTrafficDistribution; d != "" {
		svc["spec"] = obj{"trafficDistribution": d}
	}
	if len(svc) == 0 {
		return nil
	}
	return svc
}

// mustYAML marshals values built above from plain maps and API types; it
// cannot fail for them.
func mustYAML(v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal gateway customization: %v", err))
	}
	return string(b)
}
