package ociimage

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Push writes index, its images and their blobs to ref
// ("ghcr.io/egressgate/coredns:v0.3.0") and returns the reference by
// digest. Credentials come from the Docker config (`docker login`) and
// its credential helpers; opts are passed on to remote.WriteIndex after
// that, so they can replace the keychain or the transport.
func Push(ctx context.Context, index v1.ImageIndex, ref string, opts ...remote.Option) (name.Digest, error) {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return name.Digest{}, fmt.Errorf("pushing to %q: give registry/repository:tag: %w", ref, err)
	}
	all := append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}, opts...)
	if err := remote.WriteIndex(tag, index, all...); err != nil {
		return name.Digest{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, err := index.Digest()
	if err != nil {
		return name.Digest{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	return tag.Context().Digest(d.String()), nil
}
