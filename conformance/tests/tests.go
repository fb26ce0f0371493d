// Package tests holds the conformance tests, one per file, each
// registered in its file's init(). They run in the order Order declares,
// not the order of file names.
//
// Each test keeps the objects it creates in manifests/<its file's name>.yaml
// (core_update.go: manifests/core-update.yaml). A test that needs nothing
// created before it starts lists the file in ConformanceTest.Manifests; one
// that must act first (query DNS, start a watch, kill the leader) reads the
// file with Suite.ReadManifest or Suite.ApplyManifest when it is ready.
// What differs between clusters is a placeholder the suite fills in, such
// as dnsName: core-update.${EXTERNAL_DOMAIN} (see suite.Expand).
package tests

import (
	"embed"
	"errors"
	"fmt"
	"slices"

	"github.com/egressgate/egressgate/conformance/suite"
)

// Order lists every test's ShortName in the order they run: by profile in
// report order (Core, DNS, Policy, Istio, EnvoyConfig, Resilience,
// DataPlane), and within Resilience the least disruptive first, so the
// tests that restart the operator and stop the API server run after
// everything else that needs a healthy cluster.
var Order = []string{
	// Core
	"SamplesAccepted",
	"AdmissionRejectsInvalid",
	"NotAcceptedWithReason",
	"StatusConditionsAndAddresses",
	"UpdatePropagates",
	"ChildrenRestored",
	"ConflictOldestWins",
	"DeleteLeavesNothing",
	// DNS
	"DNSHijackAnswersGateway",
	"DNSNoUpstreamAddressLeaks",
	"DNSNotHijackedBeforeProgrammed",
	"DNSClusterDomainNeverHijacked",
	"DNSGatewayPodGetsRealAnswer",
	"DNSUnmanagedNamesPassThrough",
	"DNSFollowsUpdatesAndDeletes",
	// Policy
	"PolicyOnlyLabelledClientsReachGateway",
	"PolicyDefaultDenyWorkloads",
	"PolicyGatewayEgressOnlyPublicListenerPorts",
	"PolicyGatewayPodsAlwaysCovered",
	// Istio
	"IstioAcceptsGeneratedObjects",
	"IstioGatewayCarriesSettings",
	// EnvoyConfig
	"EnvoyConfigSamples",
	"EnvoyConfigGeneratedCases",
	"EnvoyConfigFollowsUpdates",
	// Resilience
	"ResilienceOperatorRestartNoWrites",
	"ResilienceLeaderHandover",
	"ResilienceAPIServerOutage",
	// DataPlane
	"DataPlaneTLS",
	"DataPlaneSSH",
}

// Manifests holds the files the tests apply.
//
//go:embed manifests
var Manifests embed.FS

// registered holds what the files' init() registered, by ShortName.
var registered = map[string]suite.ConformanceTest{}

// duplicates names tests registered more than once.
var duplicates []string

func register(t suite.ConformanceTest) {
	if _, ok := registered[t.ShortName]; ok {
		duplicates = append(duplicates, t.ShortName)
	}
	registered[t.ShortName] = t
}

// ConformanceTests returns every registered test in Order. It fails when
// a registered test is missing from Order, Order names a test nobody
// registered, a name appears twice, or Order leaves profile order.
func ConformanceTests() ([]suite.ConformanceTest, error) {
	return inOrder(Order, registered, duplicates)
}

func inOrder(order []string, tests map[string]suite.ConformanceTest, duplicates []string) ([]suite.ConformanceTest, error) {
	var errs []error
	for _, name := range duplicates {
		errs = append(errs, fmt.Errorf("test %s is registered twice", name))
	}
	var out []suite.ConformanceTest
	seen := map[string]bool{}
	rank := -1
	for _, name := range order {
		ct, ok := tests[name]
		switch {
		case seen[name]:
			errs = append(errs, fmt.Errorf("tests.Order names %s twice", name))
			continue
		case !ok:
			errs = append(errs, fmt.Errorf("tests.Order names %s, which no test registers", name))
			continue
		}
		seen[name] = true
		if len(ct.Features) == 0 {
			errs = append(errs, fmt.Errorf("test %s names no feature", name))
			continue
		}
		r := slices.Index(suite.AllProfiles, ct.Profile())
		if r < rank {
			errs = append(errs, fmt.Errorf("tests.Order has %s (profile %s) after a test of profile %s: keep the profiles in the order %v", name, ct.Profile(), suite.AllProfiles[rank], suite.AllProfiles))
		}
		rank = max(rank, r)
		out = append(out, ct)
	}
	var missing []string
	for name := range tests {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	for _, name := range missing {
		errs = append(errs, fmt.Errorf("test %s is registered but not in tests.Order: add it there", name))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("order the conformance tests: %w", err)
	}
	return out, nil
}
