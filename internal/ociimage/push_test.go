package ociimage

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Each image pushed to a real registry, pulled back by digest and unpacked,
// runs: its entrypoint prints the version and commit it was built with.
func TestPushPullRun(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range Images {
		t.Run(img.Name, func(t *testing.T) {
			ref, err := Push(context.Background(), testIndexes(t)[img.Name], u.Host+"/egressgate/"+img.Name+":"+testVersion)
			if err != nil {
				t.Fatal(err)
			}
			d, err := name.NewDigest(ref.String())
			if err != nil {
				t.Fatal(err)
			}
			pulled, err := remote.Index(d)
			if err != nil {
				t.Fatalf("pulling %s: %v", ref, err)
			}
			dir := t.TempDir()
			ep, err := Unpack(pulled, testPlatform, dir)
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(ep[0], append(ep[1:], img.VersionFlag)...).CombinedOutput()
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", ep, img.VersionFlag, err, out)
			}
			if !strings.Contains(string(out), testVersion) || !strings.Contains(string(out), testCommit) {
				t.Errorf("%s %s printed %q, want version %s and commit %s", img.Name, img.VersionFlag, out, testVersion, testCommit)
			}
		})
	}
}

// A ref that is not registry/repository:tag is refused before anything is
// sent.
func TestPushRefusesBadRef(t *testing.T) {
	_, err := Push(context.Background(), testIndexes(t)["egressctl"], "not a ref")
	if err == nil || !strings.Contains(err.Error(), "registry/repository:tag") {
		t.Errorf("Push with a bad ref: %v, want an error naming registry/repository:tag", err)
	}
}
