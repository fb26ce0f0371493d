package controllers_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/crdpaths"
	"github.com/egressgate/egressgate/internal/testenv"
)

// TestRestartInSteadyStateMakesZeroWrites restarts the operator over
// ExternalServices it has already converged, and counts every create,
// update, patch, apply and delete the new one sends: there must be none.
func TestRestartInSteadyStateMakesZeroWrites(t *testing.T) {
	full := externalService("steady-full", "steady.example.com", port(443, egressv1.ProtocolTLS), port(22, egressv1.ProtocolTCP), port(53, egressv1.ProtocolUDP))
	full.Spec.HijackDns = true
	full.Spec.EnvoyClusterMaxConnections = new(int64(10))
	full.Spec.EnvoyLogLevel = "warning"
	full.Spec.IpOverride = []string{"203.0.113.7"}
	full.Spec.ServiceTrafficDistribution = "PreferClose"
	create(t, full)
	create(t, externalService("steady-ssh", "ssh.steady.example.com", port(22, egressv1.ProtocolTCP)))
	create(t, externalService("steady-later", "steady.example.com", port(443, egressv1.ProtocolTLS)))
	create(t, externalService("steady-invalid", "steady.svc.cluster.local", port(443, egressv1.ProtocolTLS)))
	waitCondition(t, "steady-full", egressv1.ConditionAccepted, metav1.ConditionTrue, egressv1.ReasonAcceptedWithIgnored)
	waitCondition(t, "steady-ssh", egressv1.ConditionAccepted, metav1.ConditionTrue, egressv1.ReasonAccepted)
	waitCondition(t, "steady-later", egressv1.ConditionConflicted, metav1.ConditionTrue, egressv1.ReasonConflicted)
	waitCondition(t, "steady-invalid", egressv1.ConditionAccepted, metav1.ConditionFalse, egressv1.ReasonInvalid)
	ctx := ctxT(t)
	var gw gwapiv1.Gateway
	eventually(t, "steady-ssh's Gateway exists", func() error {
		if ok, err := exists(ctx, "steady-ssh", &gw); !ok {
			return fmt.Errorf("not yet (%v)", err)
		}
		return nil
	})

	// Let the running operator settle, then replace it with one whose
	// writes are counted.
	if err := testenv.WaitIdle(ctx, "externalservice", testenv.Reconciles("externalservice"), 0, time.Second); err != nil {
		t.Fatal(err)
	}
	stopOp()
	var writes testenv.WriteCounter
	before := testenv.Reconciles("externalservice")
	stop, err := startOperator(testenv.Counting(env.Config, &writes), operatorOp)
	if err != nil {
		t.Fatal(err)
	}
	stopOp = stop
	var list egressv1.ExternalServiceList
	if err := k8s.List(ctx, &list); err != nil {
		t.Fatal(err)
	}
	if err := testenv.WaitIdle(ctx, "externalservice", before, float64(len(list.Items)), time.Second); err != nil {
		t.Fatal(err)
	}
	if n := writes.Count(); n != 0 {
		t.Errorf("the restarted operator made %d writes over %d converged ExternalServices, want 0:\n%s",
			n, len(list.Items), strings.Join(writes.Writes(), "\n"))
	}
}

// TestMissingIstioAPIsBecomeAConditionAndArePickedUpLater runs the operator
// on an API server without Istio's CRDs, then installs them.
func TestMissingIstioAPIsBecomeAConditionAndArePickedUpLater(t *testing.T) {
	ours, err := crdpaths.Ours()
	if err != nil {
		t.Fatal(err)
	}
	gwapi, err := crdpaths.GatewayAPI()
	if err != nil {
		t.Fatal(err)
	}
	bare, err := testenv.Start(append(ours, gwapi...))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = bare.Stop() }()
	ctx := ctxT(t)
	if err := bare.CreateNamespace(ctx, gatewayNS); err != nil {
		t.Fatal(err)
	}
	stop, err := startOperator(bare.Config, operatorOp)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	c := bare.Client
	es := externalService("no-istio", "no-istio.example.com", port(22, egressv1.ProtocolTCP))
	es.Spec.EnvoyClusterMaxConnections = new(int64(5))
	if err := c.Create(ctx, es); err != nil {
		t.Fatal(err)
	}
	programmed := func(wantReason string) func() error {
		return func() error {
			got := &egressv1.ExternalService{}
			if err := c.Get(ctx, clientKey("no-istio"), got); err != nil {
				return err
			}
			for _, cond := range got.Status.Conditions {
				if cond.Type == egressv1.ConditionProgrammed {
					if cond.Reason != wantReason {
						return fmt.Errorf("Programmed reason %s: %s", cond.Reason, cond.Message)
					}
					if wantReason == egressv1.ReasonAPINotInstalled &&
						(!strings.Contains(cond.Message, "ServiceEntry.networking.istio.io/v1") || !strings.Contains(cond.Message, "DestinationRule.networking.istio.io/v1")) {
						return fmt.Errorf("message %q does not name the missing kinds", cond.Message)
					}
					return nil
				}
			}
			return fmt.Errorf("no Programmed condition")
		}
	}
	eventually(t, "Programmed=False/APINotInstalled", programmed(egressv1.ReasonAPINotInstalled))
	// What the cluster does serve is still generated.
	gw := &gwapiv1.Gateway{}
	eventually(t, "the Gateway exists without Istio", func() error { return c.Get(ctx, nsKey("no-istio"), gw) })

	istio, err := crdpaths.Istio()
	if err != nil {
		t.Fatal(err)
	}
	if err := bare.InstallCRDs(istio); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Istio's kinds are picked up once installed", programmed(egressv1.ReasonPending))
	se := &istioServiceEntry{}
	eventually(t, "the ServiceEntry is created", func() error { return c.Get(ctx, nsKey("no-istio"), se) })
	dr := &istioDestinationRule{}
	eventually(t, "the DestinationRule is created", func() error { return c.Get(ctx, nsKey("no-istio"), dr) })
}
