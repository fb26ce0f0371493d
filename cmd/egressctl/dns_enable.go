package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/corefile"
)

// runDNSEnable checks that the cluster's CoreDNS can take the plugin, then
// sets the image (and snapshot volume), waits for the rollout, and writes
// the Corefile last: egressgate's CoreDNS runs the old Corefile as well, but
// a stock CoreDNS that restarted with the new one would not start.
func runDNSEnable(ctx context.Context, cs kubernetes.Interface, o *dnsOptions, out io.Writer) error {
	c, err := readCoreDNS(ctx, cs, o)
	if err != nil {
		return err
	}
	image := o.image
	if image == "" {
		if image, err = defaultCoreDNSImage(); err != nil {
			return err
		}
	}
	if err := checkCanReplace(ctx, cs, c, o); err != nil {
		return err
	}
	cf, err := parseCorefile(c)
	if err != nil {
		return err
	}
	settings := corefile.Settings{GatewayNamespace: o.gatewayNamespace}
	if o.snapshot {
		settings.Snapshot = snapshotFile
	}
	enabled, err := cf.Enable(settings)
	if err != nil {
		return fmt.Errorf("add the egressoperator line to the Corefile of ConfigMap %s/%s: %w", c.cm.Namespace, c.cm.Name, err)
	}
	if err := checkRBAC(ctx, cs, c, o.gatewayNamespace); err != nil {
		return err
	}
	if err := checkCRD(cs); err != nil {
		return err
	}
	addVolume := o.snapshot && enabled != c.corefile()
	change := func(d *appsv1.Deployment) *appsv1.Deployment {
		return enabledDeployment(d, c.container, image, addVolume)
	}
	dep := change(c.dep)
	depChanged := deploymentSummary(dep, c.container) != deploymentSummary(c.dep, c.container)
	if !depChanged && enabled == c.corefile() {
		fmt.Fprintf(out, "CoreDNS %s/%s already runs %s with the egressoperator line: nothing to change.\n", o.namespace, o.deployment, c.image())
		return nil
	}
	printChanges(out, c, enabled, dep)
	if o.dryRun {
		fmt.Fprintln(out, "Dry run: nothing was written.")
		return nil
	}
	if depChanged {
		if err := updateDeployment(ctx, cs, c.dep, change, o, out); err != nil {
			return err
		}
	}
	if enabled != c.corefile() {
		cm := c.cm.DeepCopy()
		metav1.SetMetaDataAnnotation(&cm.ObjectMeta, egressv1.AnnotationOriginalCorefile, c.corefile())
		cm.Data[corefileKey] = enabled
		if _, err := cs.CoreV1().ConfigMaps(cm.Namespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("write the Corefile to ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err)
		}
		fmt.Fprintf(out, "Wrote the Corefile with the egressoperator line to ConfigMap %s/%s (the original is in its annotation %s).\n", cm.Namespace, cm.Name, egressv1.AnnotationOriginalCorefile)
		if !cf.Names("reload") {
			fmt.Fprintf(out, "The Corefile has no reload plugin, so CoreDNS does not read it again by itself: run kubectl -n %s rollout restart deployment/%s.\n", o.namespace, o.deployment)
		}
	}
	fmt.Fprintln(out, "egressgate's DNS half is on.")
	return nil
}

// checkCanReplace refuses a CoreDNS that egressctl must not replace: one an
// add-on manager owns, one behind an unconfigured NodeLocal DNSCache, or one
// whose version egressgate's CoreDNS cannot stand in for.
func checkCanReplace(ctx context.Context, cs kubernetes.Interface, c *coreDNS, o *dnsOptions) error {
	if err := checkNotManaged(c); err != nil {
		return err
	}
	if !o.nodeLocalConfigured {
		if err := checkNoNodeLocalDNS(ctx, cs, o.namespace); err != nil {
			return err
		}
	}
	if isEgressgateImage(c.image(), c.dep.Annotations) {
		return nil
	}
	return checkReplaceable(c.image(), o.force)
}

// parseCorefile parses the Corefile of CoreDNS's ConfigMap.
func parseCorefile(c *coreDNS) (*corefile.Corefile, error) {
	cf, err := corefile.Parse(corefileKey, c.corefile())
	if err != nil {
		return nil, fmt.Errorf("the Corefile of ConfigMap %s/%s does not parse, so egressctl will not edit it (fix it first): %w", c.cm.Namespace, c.cm.Name, err)
	}
	return cf, nil
}

// enabledDeployment is dep running image in its CoreDNS container, with
// the annotations disable needs, and with the snapshot volume when addVolume
// and the Deployment has neither that volume nor a mount at its path.
func enabledDeployment(dep *appsv1.Deployment, container int, image string, addVolume bool) *appsv1.Deployment {
	d := dep.DeepCopy()
	spec := &d.Spec.Template.Spec
	ctr := &spec.Containers[container]
	if ctr.Image != image {
		if !isEgressgateImage(ctr.Image, dep.Annotations) {
			metav1.SetMetaDataAnnotation(&d.ObjectMeta, egressv1.AnnotationOriginalImage, ctr.Image)
		}
		metav1.SetMetaDataAnnotation(&d.ObjectMeta, egressv1.AnnotationCoreDNSImage, image)
		ctr.Image = image
	}
	hasVolume := slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == snapshotVolume })
	hasMount := slices.ContainsFunc(ctr.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == snapshotDir })
	if addVolume && !hasVolume && !hasMount {
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: snapshotVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: snapshotVolume, MountPath: snapshotDir})
		metav1.SetMetaDataAnnotation(&d.ObjectMeta, egressv1.AnnotationSnapshotVolume, snapshotVolume)
	}
	return d
}

// updateDeployment writes change(orig) and, unless --wait=false, waits for
// the rollout. The Deployment controller writes the Deployment's status and
// revision annotation at any time; on such a conflict the change is made
// again on the Deployment as it is now, provided its spec is still orig's.
func updateDeployment(ctx context.Context, cs kubernetes.Interface, orig *appsv1.Deployment, change func(*appsv1.Deployment) *appsv1.Deployment, o *dnsOptions, out io.Writer) error {
	deployments := cs.AppsV1().Deployments(orig.Namespace)
	cur := orig
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		_, err := deployments.Update(ctx, change(cur), metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			fresh, gerr := deployments.Get(ctx, orig.Name, metav1.GetOptions{})
			if gerr != nil {
				return gerr
			}
			if !equality.Semantic.DeepEqual(fresh.Spec, orig.Spec) {
				return errors.New("its spec was changed by someone else meanwhile: run this again")
			}
			cur = fresh
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("update Deployment %s/%s: %w", orig.Namespace, orig.Name, err)
	}
	fmt.Fprintf(out, "Updated Deployment %s/%s.\n", orig.Namespace, orig.Name)
	if !o.wait {
		return nil
	}
	return waitRollout(ctx, cs, orig.Namespace, orig.Name, o.timeout, out)
}

// deploymentSummary is what `dns` changes in a Deployment, one line each, for
// diffs: the CoreDNS container's image, the snapshot volume and mount, and
// egressgate's annotations.
func deploymentSummary(d *appsv1.Deployment, container int) string {
	var b strings.Builder
	ctr := d.Spec.Template.Spec.Containers[container]
	fmt.Fprintf(&b, "container %s image: %s\n", ctr.Name, ctr.Image)
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == snapshotVolume || v.Name == d.Annotations[egressv1.AnnotationSnapshotVolume] {
			fmt.Fprintf(&b, "volume %s: emptyDir %v\n", v.Name, v.EmptyDir != nil)
		}
	}
	for _, m := range ctr.VolumeMounts {
		if m.Name == snapshotVolume || m.Name == d.Annotations[egressv1.AnnotationSnapshotVolume] {
			fmt.Fprintf(&b, "container %s mounts %s at %s\n", ctr.Name, m.Name, m.MountPath)
		}
	}
	var keys []string
	for k := range d.Annotations {
		if k == egressv1.AnnotationOriginalImage || k == egressv1.AnnotationCoreDNSImage || k == egressv1.AnnotationSnapshotVolume {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "annotation %s: %s\n", k, d.Annotations[k])
	}
	return b.String()
}

// printChanges prints the Corefile's and the Deployment's changes as unified
// diffs.
func printChanges(out io.Writer, c *coreDNS, newCorefile string, newDep *appsv1.Deployment) {
	cm := fmt.Sprintf("ConfigMap %s/%s key %s", c.cm.Namespace, c.cm.Name, corefileKey)
	fmt.Fprint(out, corefile.Diff(cm, cm+" (new)", c.corefile(), newCorefile))
	dep := fmt.Sprintf("Deployment %s/%s", c.dep.Namespace, c.dep.Name)
	fmt.Fprint(out, corefile.Diff(dep, dep+" (new)", deploymentSummary(c.dep, c.container), deploymentSummary(newDep, c.container)))
}
