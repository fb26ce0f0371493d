package main

import (
	"strings"
	"testing"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

func TestSplitImage(t *testing.T) {
	for _, tc := range []struct{ image, repo, tag string }{
		{"registry.k8s.io/coredns/coredns:v1.14.6", "registry.k8s.io/coredns/coredns", "v1.14.6"},
		{"localhost:5000/coredns:1.11.1", "localhost:5000/coredns", "1.11.1"},
		{"localhost:5000/coredns", "localhost:5000/coredns", ""},
		{"coredns/coredns@sha256:abcd", "coredns/coredns", ""},
		{"coredns/coredns:1.11.3@sha256:abcd", "coredns/coredns", "1.11.3"},
	} {
		if repo, tag := splitImage(tc.image); repo != tc.repo || tag != tc.tag {
			t.Errorf("splitImage(%q) = %q, %q; want %q, %q", tc.image, repo, tag, tc.repo, tc.tag)
		}
	}
}

func TestIsEgressgateImage(t *testing.T) {
	enabled := map[string]string{egressv1.AnnotationCoreDNSImage: "registry.example/dns/ours:1"}
	for _, tc := range []struct {
		image string
		want  bool
	}{
		{"ghcr.io/egressgate/coredns:v0.3.0", true},
		{"mirror.example/egressgate/coredns:v0.3.0", true},
		{"registry.example/dns/ours:1", true}, // the image enable set
		{"registry.example/dns/ours:2", false},
		{"registry.k8s.io/coredns/coredns:v1.14.6", false},
		{"coredns/coredns:1.11.1", false},
		{"ghcr.io/not-egressgate/coredns:v1", false},
	} {
		if got := isEgressgateImage(tc.image, enabled); got != tc.want {
			t.Errorf("isEgressgateImage(%q) = %v, want %v", tc.image, got, tc.want)
		}
	}
}

// The version rule: 1.10 up to our own minor version; a tag that is no
// version, or a newer CoreDNS, only with --force; an older one never.
func TestCheckReplaceable(t *testing.T) {
	for _, tc := range []struct {
		image string
		force bool
		want  string // "" for accepted, else a part of the error
	}{
		{"registry.k8s.io/coredns/coredns:v1.14.6", false, ""},
		{"registry.k8s.io/coredns/coredns:v1.10.0", false, ""},
		{"602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/coredns:v1.11.4-eksbuild.2", false, ""},
		{"registry.k8s.io/coredns/coredns:v1.15.9", false, ""},
		{"registry.k8s.io/coredns/coredns:v1.9.3", false, "older than 1.10.0"},
		{"k8s.gcr.io/coredns:1.7.0", true, "older than 1.10.0"},
		{"coredns/coredns:latest", false, "--force"},
		{"coredns/coredns@sha256:abcd", false, "--force"},
		{"coredns/coredns:latest", true, ""},
		{"coredns/coredns:1.16.0", false, "newer than egressgate's CoreDNS 1.15.0"},
		{"coredns/coredns:2.0.0", false, "newer"},
		{"coredns/coredns:1.16.0", true, ""},
	} {
		err := checkReplaceable(tc.image, tc.force)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("checkReplaceable(%q, force %v) = %v; want accepted", tc.image, tc.force, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("checkReplaceable(%q, force %v) = %v; want an error containing %q", tc.image, tc.force, err, tc.want)
		}
	}
}
