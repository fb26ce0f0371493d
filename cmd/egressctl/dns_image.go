package main

import (
	"fmt"
	"strings"

	utilversion "k8s.io/apimachinery/pkg/util/version"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/internal/corefile"
	"github.com/egressgate/egressgate/internal/version"
)

// egressgateRepository is where egressgate publishes its CoreDNS image; any
// image whose repository path ends in egressgateRepositoryPath (a mirror of
// it) counts as egressgate's CoreDNS.
const (
	egressgateRepository     = "ghcr.io/egressgate/coredns"
	egressgateRepositoryPath = "/egressgate/coredns"
)

// minCoreDNS is the oldest CoreDNS that `dns enable` replaces. Our CoreDNS
// (corefile.CoreDNSVersion) must read the running Corefile and work with the
// cluster's system:coredns RBAC: CoreDNS 1.8.1 began reading EndpointSlices,
// and options and plugins were removed up to 1.7 (proxy, federation,
// kubernetes' upstream and resyncperiod). kubeadm has shipped 1.10.1 or newer
// since Kubernetes 1.27, and a cluster on 1.10 or newer has its distribution's
// Corefile migration and RBAC for EndpointSlices behind it. The Corefile is
// also parsed with our CoreDNS's directives, which refuses plugins removed
// since; options removed within a plugin are not checked.
var minCoreDNS = utilversion.MustParseGeneric("1.10.0")

// splitImage returns an image reference's repository and tag ("" when it
// has none), ignoring a digest.
func splitImage(image string) (repo, tag string) {
	image, _, _ = strings.Cut(image, "@")
	slash := strings.LastIndex(image, "/")
	if colon := strings.LastIndex(image, ":"); colon > slash {
		return image[:colon], image[colon+1:]
	}
	return image, ""
}

// isEgressgateImage reports whether image is egressgate's CoreDNS: our
// repository (or a mirror keeping its path), or the image `dns enable` set
// as recorded on the Deployment.
func isEgressgateImage(image string, annotations map[string]string) bool {
	repo, _ := splitImage(image)
	return strings.HasSuffix("/"+repo, egressgateRepositoryPath) || (image != "" && image == annotations[egressv1.AnnotationCoreDNSImage])
}

// defaultCoreDNSImage is egressgate's CoreDNS image of this egressctl's
// version; a development build has none.
func defaultCoreDNSImage() (string, error) {
	v, _ := version.Get()
	if strings.HasPrefix(v, "dev") || strings.Contains(v, "dirty") {
		return "", fmt.Errorf("this egressctl is a development build (%s), so there is no published CoreDNS image of its version: pass --image with an image of bin/coredns (make build-dns)", v)
	}
	return egressgateRepository + ":" + v, nil
}

// checkReplaceable refuses to replace the CoreDNS of image unless its
// version, read from the tag, is one our CoreDNS can stand in for: at least
// minCoreDNS and not newer than our own minor version. With force, a tag
// that is not a version and a newer CoreDNS are accepted; an older one never
// is.
func checkReplaceable(image string, force bool) error {
	ours := utilversion.MustParseGeneric(corefile.CoreDNSVersion)
	_, tag := splitImage(image)
	v, err := utilversion.ParseGeneric(tag)
	if err != nil || len(v.Components()) < 2 {
		if force {
			return nil
		}
		return fmt.Errorf("cannot tell the CoreDNS version of %s from its tag %q: check that it is CoreDNS %s to %d.%d, then pass --force", image, tag, minCoreDNS, ours.Major(), ours.Minor())
	}
	if v.LessThan(minCoreDNS) {
		return fmt.Errorf("the cluster runs CoreDNS %s (%s), older than %s: its Corefile and RBAC may not suit CoreDNS %s; upgrade CoreDNS with your distribution's tooling (e.g. kubeadm upgrade), then run this again", v, image, minCoreDNS, ours)
	}
	if v.Major() != ours.Major() || v.Minor() > ours.Minor() {
		if force {
			return nil
		}
		return fmt.Errorf("the cluster runs CoreDNS %s (%s), newer than egressgate's CoreDNS %s: its Corefile may use what %s lacks; check it, then pass --force", v, image, ours, ours)
	}
	return nil
}
