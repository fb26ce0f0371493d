package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/kubernetes"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/corefile"
)

// runDNSStatus prints what CoreDNS runs, and fails on the one dangerous
// state: a Corefile naming egressoperator with a CoreDNS image that is not
// egressgate's, which refuses that Corefile at its next start.
func runDNSStatus(ctx context.Context, cs kubernetes.Interface, o *dnsOptions, out io.Writer) error {
	c, err := readCoreDNS(ctx, cs, o)
	if err != nil {
		return err
	}
	names := "no"
	cf, parseErr := corefile.Parse(corefileKey, c.corefile())
	if parseErr != nil {
		names = "cannot tell: " + parseErr.Error()
	} else if cf.Names(corefile.Directive) {
		names = "yes"
	}
	image := c.image()
	ours := isEgressgateImage(image, c.dep.Annotations)
	kind := "not egressgate's CoreDNS (it has no egressoperator plugin)"
	if ours {
		kind = "egressgate's CoreDNS"
	}
	state := "off"
	switch {
	case parseErr != nil:
		state = "unknown: the Corefile does not parse with egressgate's CoreDNS's plugins"
	case names == "yes" && ours:
		state = "on"
	case names == "yes":
		state = "MISMATCH"
	case ours:
		state = "off (egressgate's CoreDNS runs without the egressoperator line: run egressctl dns enable)"
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Corefile names egressoperator:\t%s\t(ConfigMap %s/%s)\n", names, c.cm.Namespace, c.cm.Name)
	fmt.Fprintf(tw, "CoreDNS image:\t%s\t%s\n", image, kind)
	fmt.Fprintf(tw, "Original Corefile kept:\t%s\n", yesNo(c.cm.Annotations[egressv1.AnnotationOriginalCorefile] != ""))
	fmt.Fprintf(tw, "Original image kept:\t%s\n", orDash(c.dep.Annotations[egressv1.AnnotationOriginalImage]))
	fmt.Fprintf(tw, "Rollout:\t%s\n", rolloutLine(c.dep))
	fmt.Fprintf(tw, "DNS half:\t%s\n", state)
	if err := tw.Flush(); err != nil {
		return err
	}
	if state == "MISMATCH" {
		fmt.Fprintf(out, "\nDANGER: the Corefile names egressoperator but CoreDNS runs %s, which does not have that plugin.\n"+
			"CoreDNS refuses such a Corefile: every CoreDNS pod that (re)starts will crash-loop, and cluster DNS goes down with the last one.\n"+
			"A cluster upgrade that put the stock image back does this. Fix it now: egressctl dns enable (puts egressgate's CoreDNS back), or egressctl dns disable.\n", image)
		return fmt.Errorf("CoreDNS %s/%s: the Corefile names egressoperator but the image %s is not egressgate's CoreDNS", o.namespace, o.deployment, image)
	}
	return nil
}

func rolloutLine(d *appsv1.Deployment) string {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	return fmt.Sprintf("%d of %d replicas updated, %d available (generation %d, observed %d)", s.UpdatedReplicas, want, s.AvailableReplicas, d.Generation, s.ObservedGeneration)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
