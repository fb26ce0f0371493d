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
