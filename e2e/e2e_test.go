// Package e2e runs egressgate end to end on the embedded local cluster:
// real kube-apiserver, controller-manager (garbage collector included),
// scheduler, kwok, istiod, the operator and CoreDNS with the plugin.
package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/controllers"
	"github.com/egressgate/egressgate/internal/localcluster"
	"github.com/egressgate/egressgate/internal/testenv"
	"github.com/egressgate/egressgate/translate"
)

// Named timeouts.
const (
	istiodDeploysTimeout = 90 * time.Second
	programmedTimeout    = 120 * time.Second
	dnsTimeout           = 30 * time.Second
	garbageTimeout       = 90 * time.Second
)

// realAddress is what the stand-in for the internet (a hosts block in the
// Corefile) answers for github.com.
const realAddress = "192.0.2.10"

var (
	cluster *localcluster.Cluster
	k8s     client.Client
	dnsAddr string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	var err error
	cluster, err = localcluster.Start(ctx, localcluster.Options{Istio: true, Progress: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = cluster.Stop() }()
	k8s = cluster.Client
	opts := translate.DefaultOptions()
	opts.EnablePodDisruptionBudgets = true
	mgr, err := controllers.NewManager(cluster.Config, opts, controllers.ManagerOptions{MetricsAddr: "0", ProbeAddr: "0", Concurrency: 2})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() { _ = mgr.Start(ctx) }()
	dnsAddr, err = cluster.StartCoreDNS(ctx, fmt.Sprintf("    hosts {\n        %s github.com\n        fallthrough\n    }", realAddress))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "local cluster, operator and CoreDNS up in %.1fs\n", time.Since(start).Seconds())
	code := m.Run()
	fmt.Fprintf(os.Stderr, "e2e took %.1fs in all\n", time.Since(start).Seconds())
	if code != 0 {
		fmt.Fprintf(os.Stderr, "component logs: %s/logs\n", cluster.Dir)
	}
	return code
}

func eventually(t *testing.T, what string, timeout time.Duration, check func() error) {
	t.Helper()
	testenv.Eventually(t, what+" (logs: "+cluster.Dir+"/logs)", timeout, check)
}

// queryA asks CoreDNS for name's A records, from source (a pod IP) when set.
func queryA(ctx context.Context, name, source string) ([]string, int, error) {
	c := &dns.Client{Timeout: 2 * time.Second}
	if source != "" {
		c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(source)}, Timeout: 2 * time.Second}
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	r, _, err := c.ExchangeContext(ctx, m, dnsAddr)
	if err != nil {
		return nil, 0, err
	}
	var ips []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			ips = append(ips, a.A.String())
		}
	}
	return ips, r.Rcode, nil
}

// TestExternalServiceEndToEnd follows one ExternalService with a TLS and an
// SSH port from creation to deletion through istiod, kwok and CoreDNS.
func TestExternalServiceEndToEnd(t *testing.T) {
	ctx := context.Background()
	tls, tcp := egressv1.ProtocolTLS, egressv1.ProtocolTCP
	es := &egressv1.ExternalService{
		ObjectMeta: metav1.ObjectMeta{Name: "github"},
		Spec: egressv1.ExternalServiceSpec{
			DnsName:                        "github.com",
			HijackDns:                      true,
			Ports:                          []egressv1.ExternalServicePort{{Port: 443, Protocol: &tls}, {Port: 22, Protocol: &tcp}},
			MinReplicas:                    new(int32(2)),
			MaxReplicas:                    new(int32(7)),
			TargetCPUUtilizationPercentage: new(int32(65)),
		},
	}
	if ips, _, err := queryA(ctx, "github.com", ""); err != nil || !slices.Equal(ips, []string{realAddress}) {
		t.Fatalf("before any ExternalService, github.com = %v (%v), want the real %s", ips, err, realAddress)
	}
	if err := k8s.Create(ctx, es); err != nil {
		t.Fatal(err)
	}
	ns := localcluster.GatewayNamespace
	byGateway := client.MatchingLabels{translate.LabelGatewayName: "github"}

	var svc corev1.Service
	eventually(t, "istiod creates the gateway Deployment and Service", istiodDeploysTimeout, func() error {
		var deps appsv1.DeploymentList
		var svcs corev1.ServiceList
		if err := k8s.List(ctx, &deps, client.InNamespace(ns), byGateway); err != nil {
			return err
		}
		if err := k8s.List(ctx, &svcs, client.InNamespace(ns), byGateway); err != nil {
			return err
		}
		if len(deps.Items) != 1 || len(svcs.Items) != 1 {
			return fmt.Errorf("%d Deployments and %d Services labelled for the gateway", len(deps.Items), len(svcs.Items))
		}
		svc = svcs.Items[0]
		return nil
	})

	t.Run("HPA and PDB carry the ExternalService's settings", func(t *testing.T) {
		eventually(t, "the HPA istiod made from the ConfigMap", istiodDeploysTimeout, func() error {
			var hpas autoscalingv2.HorizontalPodAutoscalerList
			if err := k8s.List(ctx, &hpas, client.InNamespace(ns), byGateway); err != nil {
				return err
			}
			if len(hpas.Items) != 1 {
				return fmt.Errorf("%d HPAs", len(hpas.Items))
			}
			h := hpas.Items[0].Spec
			if h.MinReplicas == nil || *h.MinReplicas != 2 || h.MaxReplicas != 7 || len(h.Metrics) != 1 ||
				h.Metrics[0].Resource == nil || h.Metrics[0].Resource.Target.AverageUtilization == nil || *h.Metrics[0].Resource.Target.AverageUtilization != 65 {
				return fmt.Errorf("HPA spec %+v, want min 2, max 7, CPU 65%%", h)
			}
			return nil
		})
		eventually(t, "the PDB istiod made from the ConfigMap", istiodDeploysTimeout, func() error {
			var pdbs policyv1.PodDisruptionBudgetList
			if err := k8s.List(ctx, &pdbs, client.InNamespace(ns), byGateway); err != nil {
				return err
			}
			if len(pdbs.Items) != 1 || pdbs.Items[0].Spec.MaxUnavailable == nil || pdbs.Items[0].Spec.MaxUnavailable.String() != "25%" {
				return fmt.Errorf("PDBs %+v, want one with maxUnavailable 25%%", pdbs.Items)
			}
			return nil
		})
	})

	eventually(t, "the Gateway is Programmed once kwok makes its pods Ready", programmedTimeout, func() error {
		gw := &gwapiv1.Gateway{}
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "github"}, gw); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(gw.Status.Conditions, "Programmed"); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Gateway Programmed = %+v", c)
		}
		return nil
	})

	eventually(t, "the ExternalService is Programmed, hijacked and shows the Service's ClusterIP", programmedTimeout, func() error {
		got := &egressv1.ExternalService{}
		if err := k8s.Get(ctx, types.NamespacedName{Name: "github"}, got); err != nil {
			return err
		}
		for _, typ := range []string{egressv1.ConditionProgrammed, egressv1.ConditionDNSHijacked} {
			if c := meta.FindStatusCondition(got.Status.Conditions, typ); c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != got.Generation {
				return fmt.Errorf("%s = %+v", typ, c)
			}
		}
		if !slices.Equal(got.Status.Addresses, svc.Spec.ClusterIPs) {
			return fmt.Errorf("addresses %v, want %v", got.Status.Addresses, svc.Spec.ClusterIPs)
		}
		return nil
	})

	t.Run("istiod accepts the TLS and the SSH route", func(t *testing.T) {
		for _, route := range []struct {
			name string
			obj  client.Object
		}{{"github-443", &gwapiv1.TLSRoute{}}, {"github-22", &gwapiv1.TCPRoute{}}} {
			eventually(t, route.name+" is Accepted", programmedTimeout, func() error {
				if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: route.name}, route.obj); err != nil {
					return err
				}
				var parents []gwapiv1.RouteParentStatus
				switch r := route.obj.(type) {
				case *gwapiv1.TLSRoute:
					parents = r.Status.Parents
				case *gwapiv1.TCPRoute:
					parents = r.Status.Parents
				}
				for _, p := range parents {
					if meta.IsStatusConditionTrue(p.Conditions, "Accepted") && meta.IsStatusConditionTrue(p.Conditions, "ResolvedRefs") {
						return nil
					}
				}
				return fmt.Errorf("parents %+v", parents)
			})
		}
	})

	t.Run("clients get the gateway address, the gateway gets the real one", func(t *testing.T) {
		eventually(t, "CoreDNS answers github.com with the gateway's ClusterIP", dnsTimeout, func() error {
			ips, _, err := queryA(ctx, "github.com", "")
			if err != nil {
				return err
			}
			if !slices.Equal(ips, svc.Spec.ClusterIPs) {
				return fmt.Errorf("A = %v, want %v", ips, svc.Spec.ClusterIPs)
			}
			return nil
		})
		var pods corev1.PodList
		if err := k8s.List(ctx, &pods, client.InNamespace(ns), byGateway); err != nil || len(pods.Items) == 0 {
			t.Fatalf("gateway pods: %d (%v)", len(pods.Items), err)
		}
		if !cluster.PodIPsAreLocal {
			t.Fatalf("pod IPs are not local addresses of this machine, so no query can come from a gateway pod: run 'ip addr add %s dev lo' as root", localcluster.PodCIDR)
		}
		podIP := pods.Items[0].Status.PodIP
		ips, _, err := queryA(ctx, "github.com", podIP)
		if err != nil {
			t.Fatalf("query from the gateway pod's IP %s: %v", podIP, err)
		}
		if !slices.Equal(ips, []string{realAddress}) {
			t.Errorf("the gateway pod %s got %v for github.com, want the real %s", podIP, ips, realAddress)
		}
	})

	t.Run("deleting the ExternalService removes everything and the hijack", func(t *testing.T) {
		if err := k8s.Delete(ctx, es); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the garbage collector removes the gateway, istiod's Deployment included", garbageTimeout, func() error {
			var left []string
			for _, list := range []client.ObjectList{&appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.PodList{}} {
				if err := k8s.List(ctx, list, client.InNamespace(ns), byGateway); err != nil {
					return err
				}
				if n := meta.LenList(list); n > 0 {
					left = append(left, fmt.Sprintf("%d %T", n, list))
				}
			}
			for _, name := range []string{"github-ingress", "github-egress"} {
				err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &networkingv1.NetworkPolicy{})
				if !apierrors.IsNotFound(err) {
					left = append(left, name)
				}
			}
			err := k8s.Get(ctx, types.NamespacedName{Name: "github"}, &egressv1.ExternalService{})
			if !apierrors.IsNotFound(err) {
				left = append(left, "the ExternalService")
			}
			if len(left) > 0 {
				return fmt.Errorf("left: %s", strings.Join(left, ", "))
			}
			return nil
		})
		eventually(t, "DNS answers github.com with the real address again", dnsTimeout, func() error {
			ips, _, err := queryA(ctx, "github.com", "")
			if err != nil {
				return err
			}
			if !slices.Equal(ips, []string{realAddress}) {
				return fmt.Errorf("A = %v", ips)
			}
			return nil
		})
	})
}
