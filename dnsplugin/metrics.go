package dnsplugin

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics of the plugin, exported as coredns_egressoperator_* by CoreDNS's
// prometheus plugin.
var (
	// hijackedAnswers counts the queries answered for a hijacked name, by the
	// ExternalService that owns it (SERVFAIL for a name without address
	// included).
	hijackedAnswers = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "hijacked_answers_total",
		Help:      "Queries for a hijacked name answered with the gateway's addresses, by ExternalService.",
	}, []string{"server", "external_service"})

	// gatewayAnswers counts the queries for a hijacked name sent by a gateway
	// pod and passed to the next plugin for the real answer.
	gatewayAnswers = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "gateway_answers_total",
		Help:      "Queries for a hijacked name from a gateway pod, given the real answer by the next plugin.",
	}, []string{"server"})

	// hijackedNames is the size of the lookup table.
	hijackedNames = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "hijacked_names",
		Help:      "Names currently hijacked (the size of the lookup table).",
	})

	// gatewayIPs is the number of gateway pod IPs whose queries are exempt.
	gatewayIPs = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "gateway_ips",
		Help:      "Gateway pod IPs whose queries get the real answer.",
	})

	// lastSync is when the table was last rebuilt from the API server's data.
	lastSync = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "last_sync_timestamp_seconds",
		Help:      "Unix time the lookup table was last rebuilt from the watched ExternalServices and gateway pods.",
	})
)

// Metrics of observe mode. Their labels are bounded: ExternalService names
// and namespaces, never a looked-up name.
var (
	// observedLookups counts recorded lookups by the ExternalService that
	// hijacked the name ("" for every name no ExternalService hijacks) and
	// the namespace of the workload that sent them ("" for a node or an
	// unknown source).
	observedLookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "observed_lookups_total",
		Help:      "Lookups recorded by observe mode, by hijacking ExternalService (\"\" for unmanaged names) and source namespace.",
	}, []string{"external_service", "namespace"})

	// observedEntries is how many (workload, name, type) entries are kept.
	observedEntries = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "observed_entries",
		Help:      "Entries (workload, name, type) observe mode keeps in memory.",
	})

	// observedEvictions counts entries pushed out by max_entries.
	observedEvictions = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "observed_evictions_total",
		Help:      "Entries evicted, least recently seen first, to stay within max_entries.",
	})

	// wouldBeRefused counts lookups of a hijacked name by a pod without the
	// ExternalService's client label.
	wouldBeRefused = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "would_be_refused_total",
		Help:      "Lookups of a hijacked name by a pod without the ExternalService's client label, whose connections the gateway will refuse.",
	}, []string{"external_service", "namespace"})
)

func init() {
	prometheus.MustRegister(lookupsCollector{observedLookups})
}

// lookupsCollector serves observedLookups after adding the lookups every
// running observer's recorder holds pending (recorder.flushLookups).
type lookupsCollector struct{ *prometheus.CounterVec }

// Collect implements prometheus.Collector.
func (c lookupsCollector) Collect(ch chan<- prometheus.Metric) {
	observers.Lock()
	for _, o := range observers.m {
		o.recorder.flushLookups()
	}
	observers.Unlock()
	c.CounterVec.Collect(ch)
}
