package translate

import (
	"testing"
)

func TestNonPublic(t *testing.T) {
	cases := map[string]string{
		"203.0.113.10":     "",
		"8.8.8.8":          "",
		"2001:4860::8888":  "",
		"10.1.2.3":         "private",
		"172.16.0.1":       "private",
		"192.168.1.1":      "private",
		"100.64.0.1":       "private",
		"127.0.0.1":        "loopback",
		"::1":              "loopback",
		"169.254.169.254":  "link-local or metadata",
		"fe80::1":          "link-local or metadata",
		"fd00:ec2::254":    "private",
		"::ffff:10.0.0.1":  "private",
		"::ffff:127.0.0.1": "loopback",
		"0.0.0.0":          "reserved",
		"224.0.0.1":        "reserved",
	}
	for ip, want := range cases {
		if got := nonPublic(ip); got != want {
			t.Errorf("nonPublic(%s) = %q, want %q", ip, got, want)
		}
	}
}

func TestSchedulingFromEnv(t *testing.T) {
	env := map[string]string{
		"NODE_SELECTOR_KEY": "role", "NODE_SELECTOR_VALUE": "egress",
		"TAINT_TOLERATION_KEY": "egress", "TAINT_TOLERATION_VALUE": "true",
		"ENABLE_POD_TOPOLOGY_SPREAD": "true", "POD_TOPOLOGY_ZONE_MAX_SKEW": "1",
		"POD_TOPOLOGY_HOSTNAME_MAX_SKEW_KEY": "example.com/rack", "POD_TOPOLOGY_HOSTNAME_MAX_SKEW": "2",
		"ENABLE_SERVICE_TOPOLOGY_MODE": "true",
	}
	got, err := SchedulingFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	want := Scheduling{
		NodeSelectorKey: "role", NodeSelectorValue: "egress", TaintTolerationKey: "egress", TaintTolerationValue: "true",
		EnablePodTopologySpread: true, ZoneMaxSkew: 1, ZoneTopologyKey: "topology.kubernetes.io/zone",
		HostnameMaxSkew: 2, HostnameTopologyKey: "example.com/rack", EnableServiceTopologyMode: true,
	}
	if got != want {
		t.Errorf("SchedulingFromEnv = %+v, want %+v", got, want)
	}

	_, err = SchedulingFromEnv(func(k string) (string, bool) {
		if k == "POD_TOPOLOGY_ZONE_MAX_SKEW" {
			return "one", true
		}
		return "", false
	})
	if err == nil || err.Error() != `POD_TOPOLOGY_ZONE_MAX_SKEW="one": must be a whole number of at least 1` {
		t.Errorf("a bad skew gave %v, want an error naming the variable", err)
	}
}

// The chart's values come from SchedulingEnv; a variable read but not
// listed would have no value in the chart.
func TestSchedulingEnvListsEveryVariableRead(t *testing.T) {
	read := map[string]bool{}
	if _, err := SchedulingFromEnv(func(k string) (string, bool) { read[k] = true; return "", false }); err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, e := range SchedulingEnv {
		listed[e.Name] = true
	}
	for k := range read {
		if !listed[k] {
			t.Errorf("SchedulingFromEnv reads %s, which SchedulingEnv does not list", k)
		}
	}
	for k := range listed {
		if !read[k] {
			t.Errorf("SchedulingEnv lists %s, which SchedulingFromEnv does not read", k)
		}
	}
}
