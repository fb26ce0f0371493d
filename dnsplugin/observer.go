package dnsplugin

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"
)

// Observe mode: the plugin records which workload looked up which name
// outside the cluster, and serves the record over HTTPS (observe_http.go).
//
// One observer exists per listen address and is shared by every server
// block (and, across a reload, every Corefile generation) that names that
// address: the first block to start creates it, binds the listener and
// starts the pod, ReplicaSet and Job informers; later blocks take a
// reference; the last one to shut down stops everything. CoreDNS's reload
// starts the new Corefile's blocks before it shuts the old ones down, so a
// reload keeps the listener, the informers and the recorded entries, and
// never binds the address twice.

// observeConfig is the `observe` block of one egressoperator stanza.
type observeConfig struct {
	listen         string
	maxEntries     int
	searchSuffixes []string // lowercase FQDNs with a leading dot
	tlsCert        string   // both empty: a self-signed certificate
	tlsKey         string
	eventInterval  time.Duration
}

// DefaultObserveListen is the address of the observe endpoint when the
// Corefile sets none.
const DefaultObserveListen = ":9154"

// DefaultEventInterval is how often, at most, a would-be-refused lookup of
// one workload is logged and reported as an Event on the ExternalService.
const DefaultEventInterval = 10 * time.Minute

func defaultObserveConfig() *observeConfig {
	return &observeConfig{listen: DefaultObserveListen, maxEntries: DefaultMaxEntries, eventInterval: DefaultEventInterval}
}

// observer is what the blocks sharing one listen address share.
type observer struct {
	addr      string
	refs      int
	recorder  *recorder
	workloads *workloadSource
	refusals  *refusalReporter
	endpoint  *endpoint
	clock     *coarseClock
}

var observers = struct {
	sync.Mutex
	m map[string]*observer
}{m: map[string]*observer{}}

// acquireObserver returns the observer of cfg.listen, creating and starting
// it when no block holds it yet. A block that names an existing observer
// sets its max_entries (the last block started wins: that is how a reload
// changes the cap).
func acquireObserver(cfg *observeConfig, rc *rest.Config) (*observer, error) {
	observers.Lock()
	defer observers.Unlock()
	if o, ok := observers.m[cfg.listen]; ok {
		o.refs++
		if o.recorder.max != cfg.maxEntries {
			log.Infof("observe %s: max_entries now %d", cfg.listen, cfg.maxEntries)
			o.recorder.setMax(cfg.maxEntries)
		}
		return o, nil
	}
	o, err := startObserver(cfg, rc)
	if err != nil {
		return nil, err
	}
	observers.m[cfg.listen] = o
	return o, nil
}

func startObserver(cfg *observeConfig, rc *rest.Config) (*observer, error) {
	ws, err := newWorkloadSource(rc)
	if err != nil {
		return nil, fmt.Errorf("observe: %w", err)
	}
	refusals, err := newRefusalReporter(rc, cfg.eventInterval)
	if err != nil {
		return nil, fmt.Errorf("observe: %w", err)
	}
	o := &observer{addr: cfg.listen, refs: 1, recorder: newRecorder(cfg.maxEntries), workloads: ws, refusals: refusals}
	o.endpoint, err = startEndpoint(cfg, rc, o.recorder, ws.HasSynced)
	if err != nil {
		return nil, fmt.Errorf("observe: %w", err)
	}
	ws.Start()
	refusals.Start()
	o.clock = startClock()
	log.Infof("observe: serving recorded lookups on https://%s%s (at most %d entries)", o.endpoint.Addr(), ObservePath, cfg.maxEntries)
	return o, nil
}

// release drops one block's reference; the last one stops the listener and
// the informers and forgets the entries.
func (o *observer) release() {
	observers.Lock()
	defer observers.Unlock()
	o.refs--
	if o.refs > 0 {
		return
	}
	delete(observers.m, o.addr)
	o.endpoint.Stop()
	o.workloads.Stop()
	o.refusals.Stop()
	o.clock.Stop()
	o.recorder.forget()
}

// observeHook is one block's view of observe mode: its own rules on what
// to record, and the shared observer once OnStartup acquired it.
type observeHook struct {
	cfg *observeConfig
	// zone is the cluster domain in canonical form (canonicalName).
	zone string
	rc   *rest.Config
	o    atomic.Pointer[observer]
}

// start acquires the observer (OnStartup).
func (h *observeHook) start() error {
	o, err := acquireObserver(h.cfg, h.rc)
	if err != nil {
		return err
	}
	h.o.Store(o)
	return nil
}

// stop releases it (OnShutdown). CoreDNS stops the block's servers first.
func (h *observeHook) stop() error {
	if o := h.o.Swap(nil); o != nil {
		o.release()
	}
	return nil
}

// waitBounded waits for wg, at most d.
func waitBounded(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}
