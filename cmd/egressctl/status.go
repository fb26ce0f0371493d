package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/kubescheme"
)

type statusOptions struct {
	kubeconfig string
	output     string
}

func newStatusCommand() *cobra.Command {
	o := statusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every ExternalService, its gateway, and how many pods may use it",
		Long: `status prints, from a live cluster, one line per ExternalService: its DNS name,
ports, gateway address, whether it is Programmed and hijacked, any conflict,
and how many pods carry its client label egress.monzo.com/allowed-<name>.
With -o wide it also names the workloads those pods belong to.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := restConfig(o.kubeconfig)
			if err != nil {
				return err
			}
			return runStatus(cmd.Context(), cfg, cmd.OutOrStdout(), o.output == "wide")
		},
	}
	cmd.Flags().StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config or in-cluster)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "wide: also list the client workloads")
	return cmd
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("read kubeconfig %s: %w", kubeconfig, err)
		}
		return cfg, nil
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("find the cluster (pass --kubeconfig): %w", err)
	}
	return cfg, nil
}

func runStatus(ctx context.Context, cfg *rest.Config, out io.Writer, wide bool) error {
	scheme, err := kubescheme.New()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	var list egressv1.ExternalServiceList
	if err := c.List(ctx, &list); err != nil {
		return fmt.Errorf("list ExternalServices: %w", err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })

	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	header := "NAME\tDNS NAME\tPORTS\tADDRESS\tPROGRAMMED\tHIJACKED\tCONFLICT\tCLIENT PODS"
	if wide {
		header += "\tCLIENT WORKLOADS"
	}
	fmt.Fprintln(tw, header)
	for i := range list.Items {
		es := &list.Items[i]
		pods, err := clientPods(ctx, c, es.Name)
		if err != nil {
			return err
		}
		conflict := "-"
		if cond := meta.FindStatusCondition(es.Status.Conditions, egressv1.ConditionConflicted); cond != nil && cond.Status == metav1.ConditionTrue {
			conflict = cond.Message
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d", es.Name, es.Spec.DnsName, portList(es), orDash(strings.Join(es.Status.Addresses, ",")),
			conditionStatus(es, egressv1.ConditionProgrammed), conditionStatus(es, egressv1.ConditionDNSHijacked), conflict, len(pods))
		if wide {
			workloads, err := workloadsOf(ctx, c, pods)
			if err != nil {
				return err
			}
			line += "\t" + orDash(strings.Join(workloads, ","))
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// clientPods are the pods, in every namespace, labelled as clients of name.
func clientPods(ctx context.Context, c client.Client, name string) ([]corev1.Pod, error) {
	req, err := labels.NewRequirement(egressv1.AllowedLabel(name), selection.Equals, []string{"true"})
	if err != nil {
		return nil, err
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.MatchingLabelsSelector{Selector: labels.NewSelector().Add(*req)}); err != nil {
		return nil, fmt.Errorf("list client pods of %s: %w", name, err)
	}
	return pods.Items, nil
}

// workloadsOf names the workloads ("namespace/Kind/name") the pods belong
// to: a ReplicaSet's Deployment, or the pod's own controller, or the pod.
func workloadsOf(ctx context.Context, c client.Client, pods []corev1.Pod) ([]string, error) {
	seen := map[string]bool{}
	for _, p := range pods {
		name := p.Namespace + "/Pod/" + p.Name
		if ref := metav1.GetControllerOf(&p); ref != nil {
			name = p.Namespace + "/" + ref.Kind + "/" + ref.Name
			if ref.Kind == "ReplicaSet" {
				rs := &appsv1.ReplicaSet{}
				if err := c.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: ref.Name}, rs); err == nil {
					if owner := metav1.GetControllerOf(rs); owner != nil {
						name = p.Namespace + "/" + owner.Kind + "/" + owner.Name
					}
				}
			}
		}
		seen[name] = true
	}
	var out []string
	for w := range seen {
		out = append(out, w)
	}
	sort.Strings(out)
	return out, nil
}

func portList(es *egressv1.ExternalService) string {
	var ports []string
	for _, p := range es.Spec.Ports {
		proto := string(egressv1.ProtocolTCP)
		if p.Protocol != nil {
			proto = string(*p.Protocol)
		}
		ports = append(ports, fmt.Sprintf("%d/%s", p.Port, proto))
	}
	return strings.Join(ports, ",")
}

func conditionStatus(es *egressv1.ExternalService, typ string) string {
	if c := meta.FindStatusCondition(es.Status.Conditions, typ); c != nil {
		return string(c.Status)
	}
	return "Unknown"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
