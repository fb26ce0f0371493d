// Finding an ExternalService's children: prune and finalize need, per
// kind, the children a given ExternalService owns. A field index would do,
// but client-go keeps a set (a map) per indexed value, and every
// ExternalService's value is its own: at 10,000 ExternalServices the
// indexes of the six cached kinds took 20 MB. This registry keeps the same
// answer as a list of names per owner, fed by the cache's own events.

package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
)

// ownerOf is the ExternalService that controls a child, "" for none.
func ownerOf(o metav1.Object) string {
	ref := metav1.GetControllerOfNoCopy(o)
	if ref == nil || ref.Kind != "ExternalService" || !strings.HasPrefix(ref.APIVersion, egressv1.GroupVersion.Group+"/") {
		return ""
	}
	return ref.Name
}

// childNames are the cached children of one kind, by owning ExternalService
// (names in the gateway namespace; children live nowhere else).
type childNames struct {
	mu      sync.RWMutex
	byOwner map[string][]string
	synced  toolscache.ResourceEventHandlerRegistration
}

// errNotSynced is returned until the registry has seen the cache's first
// list: until then it could report children missing that exist.
var errNotSynced = errors.New("the children's cache is not synced yet")

// watchChildren starts a registry of kind k fed by its informer.
func watchChildren(ctx context.Context, c cache.Cache, k childKind) (*childNames, error) {
	inf, err := c.GetInformer(ctx, k.cached(), cache.BlockUntilSynced(false))
	if err != nil {
		return nil, err
	}
	n := &childNames{byOwner: map[string][]string{}}
	n.synced, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { n.update(nil, obj) },
		UpdateFunc: n.update,
		DeleteFunc: func(obj any) {
			if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			n.update(obj, nil)
		},
	})
	return n, err
}

// update removes old's name from its owner and adds obj's to its owner.
func (n *childNames) update(old, obj any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if o, ok := old.(metav1.Object); ok {
		if owner := ownerOf(o); owner != "" {
			names := slices.DeleteFunc(n.byOwner[owner], func(s string) bool { return s == o.GetName() })
			if len(names) == 0 {
				delete(n.byOwner, owner)
			} else {
				n.byOwner[owner] = names
			}
		}
	}
	if o, ok := obj.(metav1.Object); ok {
		if owner := ownerOf(o); owner != "" && !slices.Contains(n.byOwner[owner], o.GetName()) {
			n.byOwner[owner] = append(n.byOwner[owner], o.GetName())
		}
	}
}

// of returns the names of the children owner has.
func (n *childNames) of(owner string) ([]string, error) {
	if !n.synced.HasSynced() {
		return nil, errNotSynced
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	return slices.Clone(n.byOwner[owner]), nil
}

// listChildren returns the cached children of kind k that the
// ExternalService called owner has, as the cache has them now (a child
// this pass just made may be missing, one it just deleted still there).
func (r *Reconciler) listChildren(ctx context.Context, k childKind, owner string) ([]client.Object, error) {
	r.mu.Lock()
	names := r.children[k.String()]
	r.mu.Unlock()
	if names == nil {
		return nil, fmt.Errorf("%s is not watched", k)
	}
	list, err := names.of(owner)
	if err != nil {
		return nil, err
	}
	var out []client.Object
	for _, name := range list {
		obj := k.cached()
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: r.Options.GatewayNamespace, Name: name}, obj, client.DisableReadYourWritesConsistency)
		if client.IgnoreNotFound(err) != nil {
			return nil, err
		}
		if err == nil {
			out = append(out, obj)
		}
	}
	return out, nil
}
