package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	egressv1 "github.com/egressgate/egressgate/api/v1"
	"github.com/egressgate/egressgate/controllers"
	"github.com/egressgate/egressgate/translate"
)

// The limits, L1 and L2: what the API server can take of exactly the writes
// the operator's target allows per ExternalService (its creation, the
// children and one status write), sent by clients concurrent workers with
// no reads and no waiting between them.

// limit creates n ExternalServices with their children and status, with
// server-side apply for the children when apply is true, and stores how
// long it took in took.
func (b *bench) limit(ctx context.Context, apply bool, took *time.Duration) error {
	name := "L1 (POST)"
	if apply {
		name = "L2 (server-side apply)"
	}
	fmt.Fprintf(os.Stderr, ">> %s: %d workers write %d ExternalServices, their children and status\n", name, clients, b.n)
	start := time.Now()
	err := forEach(ctx, b.n, func(ctx context.Context, i int) error {
		return b.writeOne(ctx, service("es", i), apply)
	})
	*took = time.Since(start)
	return err
}

// writeOne is one ExternalService's writes, one after another, as a
// reconciler that knew the answer without reading would send them.
func (b *bench) writeOne(ctx context.Context, es *egressv1.ExternalService, apply bool) error {
	c := b.env.Client
	if err := c.Create(ctx, es); err != nil {
		return err
	}
	res := translate.Translate(es, translate.DefaultOptions(), translate.Observed{})
	for _, obj := range res.Objects {
		if err := writeChild(ctx, c, obj, apply); err != nil {
			return err
		}
	}
	next := es.DeepCopy()
	next.Status.ObservedGeneration = es.Generation
	next.Status.Addresses = res.Addresses
	for _, cond := range res.Conditions {
		meta.SetStatusCondition(&next.Status.Conditions, cond)
	}
	if err := c.Status().Patch(ctx, next, client.MergeFrom(es)); err != nil {
		return fmt.Errorf("status of %s: %w", es.Name, err)
	}
	return nil
}

func writeChild(ctx context.Context, c client.Client, obj client.Object, apply bool) error {
	if !apply {
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("create %s: %w", obj.GetName(), err)
		}
		return nil
	}
	desired, err := controllers.ApplyConfiguration(obj)
	if err != nil {
		return err
	}
	body, err := desired.MarshalJSON()
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, desired, client.RawPatch(types.ApplyPatchType, body),
		client.FieldOwner(controllers.FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s: %w", obj.GetName(), err)
	}
	return nil
}

// forEach calls do for 0..n-1 on clients concurrent workers and returns
// the first error.
func forEach(ctx context.Context, n int, do func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := range next {
				if err := do(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}
