package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/corefile"
)

// runDNSDisable puts back what enable replaced: the Corefile first (which
// egressgate's CoreDNS runs as well), then the image, and waits for the
// rollout.
func runDNSDisable(ctx context.Context, cs kubernetes.Interface, o *dnsOptions, out io.Writer) error {
	c, err := readCoreDNS(ctx, cs, o)
	if err != nil {
		return err
	}
	original, hasCorefile := c.cm.Annotations[egressv1.AnnotationOriginalCorefile]
	change := func(d *appsv1.Deployment) *appsv1.Deployment { return disabledDeployment(d, c.container) }
	dep := change(c.dep)
	depChanged := deploymentSummary(dep, c.container) != deploymentSummary(c.dep, c.container)
	if !hasCorefile && !depChanged {
		return fmt.Errorf("egressctl dns enable was never run on %s/%s (no %s annotation on the ConfigMap, nor %s on the Deployment): there is nothing to restore; if the egressoperator line was added by hand, remove it by hand", o.namespace, o.deployment, egressv1.AnnotationOriginalCorefile, egressv1.AnnotationOriginalImage)
	}
	restored := c.corefile()
	if hasCorefile {
		if restored, err = corefileToRestore(c, original, o.force); err != nil {
			return err
		}
	}
	if img := dep.Spec.Template.Spec.Containers[c.container].Image; !isEgressgateImage(img, nil) {
		if cf, err := corefile.Parse(corefileKey, restored); err == nil && cf.Names(corefile.Directive) {
			return fmt.Errorf("disable would leave CoreDNS running %s with a Corefile that names egressoperator, which that CoreDNS refuses at its next start: remove the egressoperator line from ConfigMap %s/%s by hand first (enable did not add it)", img, c.cm.Namespace, c.cm.Name)
		}
	}
	printChanges(out, c, restored, dep)
	if o.dryRun {
		fmt.Fprintln(out, "Dry run: nothing was written.")
		return nil
	}
	if hasCorefile {
		cm := c.cm.DeepCopy()
		delete(cm.Annotations, egressv1.AnnotationOriginalCorefile)
		cm.Data[corefileKey] = restored
		if _, err := cs.CoreV1().ConfigMaps(cm.Namespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("restore the Corefile of ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err)
		}
		if restored == original {
			fmt.Fprintf(out, "Restored the original Corefile of ConfigMap %s/%s.\n", cm.Namespace, cm.Name)
		} else {
			fmt.Fprintf(out, "The Corefile of ConfigMap %s/%s no longer names egressoperator: kept as it is.\n", cm.Namespace, cm.Name)
		}
	}
	if depChanged {
		if err := updateDeployment(ctx, cs, c.dep, change, o, out); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "egressgate's DNS half is off.")
	return nil
}

// corefileToRestore is the Corefile disable writes: the original, when the
// Corefile differs from it by no more than the egressoperator lines (or
// with force); the Corefile as it is, when someone has taken the
// egressoperator line out since enable. Any other change since enable is
// refused: restoring the original would drop it.
func corefileToRestore(c *coreDNS, original string, force bool) (string, error) {
	current := c.corefile()
	if current == original || force {
		return original, nil
	}
	cf, err := corefile.Parse(corefileKey, current)
	if err == nil && !cf.Names(corefile.Directive) {
		return current, nil
	}
	if err == nil {
		var removed string
		if removed, err = cf.Remove(corefile.Directive); err == nil && removed == original {
			return original, nil
		}
	}
	if err == nil {
		err = errors.New("it differs from the original by more than the egressoperator line")
	}
	return "", fmt.Errorf("the Corefile of ConfigMap %s/%s was changed since egressctl dns enable (%v): restoring the original would drop those changes; remove the egressoperator line by hand and run disable again (it then keeps the Corefile as it is), or pass --force to restore the original anyway", c.cm.Namespace, c.cm.Name, err)
}

// disabledDeployment is dep with the original image in its CoreDNS
// container, without the snapshot volume enable added and without
// egressgate's annotations.
func disabledDeployment(dep *appsv1.Deployment, container int) *appsv1.Deployment {
	d := dep.DeepCopy()
	spec := &d.Spec.Template.Spec
	if img, ok := d.Annotations[egressv1.AnnotationOriginalImage]; ok {
		spec.Containers[container].Image = img
	}
	if vol, ok := d.Annotations[egressv1.AnnotationSnapshotVolume]; ok {
		spec.Volumes = slices.DeleteFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == vol })
		for i := range spec.Containers {
			ctr := &spec.Containers[i]
			ctr.VolumeMounts = slices.DeleteFunc(ctr.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == vol })
		}
	}
	for _, k := range []string{egressv1.AnnotationOriginalImage, egressv1.AnnotationCoreDNSImage, egressv1.AnnotationSnapshotVolume} {
		delete(d.Annotations, k)
	}
	return d
}
