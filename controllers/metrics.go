package controllers

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

var externalServicesDesc = prometheus.NewDesc(
	"egressgate_externalservices",
	"ExternalServices by condition type and status.",
	[]string{"condition", "status"}, nil,
)

// ConditionCollector exports how many ExternalServices have each condition
// in each status, counted from the manager's cache at scrape time. It reads
// the cached objects without copying them (it changes nothing): a copy of
// 10,000 ExternalServices is 25 MB of garbage per scrape.
type ConditionCollector struct {
	Reader client.Reader
}

// Describe implements prometheus.Collector.
func (c ConditionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- externalServicesDesc }

// Collect implements prometheus.Collector.
func (c ConditionCollector) Collect(ch chan<- prometheus.Metric) {
	var list egressv1.ExternalServiceList
	if err := c.Reader.List(context.Background(), &list, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	types := []string{egressv1.ConditionAccepted, egressv1.ConditionProgrammed, egressv1.ConditionDNSHijacked, egressv1.ConditionConflicted}
	for _, typ := range types {
		counts := map[string]float64{"True": 0, "False": 0, "Unknown": 0}
		for _, es := range list.Items {
			if cond := meta.FindStatusCondition(es.Status.Conditions, typ); cond != nil {
				counts[string(cond.Status)]++
			} else {
				counts["Unknown"]++
			}
		}
		for status, n := range counts {
			ch <- prometheus.MustNewConstMetric(externalServicesDesc, prometheus.GaugeValue, n, typ, status)
		}
	}
}
