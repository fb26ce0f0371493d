package dnsplugin

import (
	"cmp"
	"hash/maphash"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxEntries is how many (workload, name, type) entries observe mode
// keeps when the Corefile sets no max_entries.
const DefaultMaxEntries = 10000

// workload names who sent a query: a Deployment, StatefulSet, DaemonSet,
// CronJob, Job, bare Pod (kind and name in Namespace), or, for a source that
// is no pod, Kind "Node" (a hostNetwork pod's IP, the node's) or "Unknown"
// with the source IP as Name and no Namespace.
type workload struct {
	Namespace string
	Kind      string
	Name      string
}

// Kinds of a source that is no pod.
const (
	kindNode    = "Node"
	kindUnknown = "Unknown"
)

// entryID is what one entry counts: one workload asking one name with one
// query type.
type entryID struct {
	workload
	qname string // lowercase FQDN
	qtype uint16
}

// entryKey is an entryID's key in the recorder's table (entryTable): two
// independent 64-bit hashes under seeds chosen at random when the process
// starts, so that finding an entry reads no strings but those being hashed
// (a Go map with the strings as key spent half of what recording a lookup
// cost inside CoreDNS on cache misses). Two IDs share a key with
// probability 2⁻¹²⁸, and nobody who cannot read the process's memory can
// make them.
//
// The workload's part is hashed once per source (workloadKey, kept in the
// source memo), so a query hashes only its name: hashing all four strings
// twice was a tenth of observe mode's cost (BenchmarkServeDNSObserved).
type entryKey [2]uint64

// workloadKey is a workload's two hashes, under the same seeds.
type workloadKey [2]uint64

var keySeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func (w workload) key() workloadKey {
	return workloadKey{maphash.Comparable(keySeeds[0], w), maphash.Comparable(keySeeds[1], w)}
}

// forName is the key of the entry for the workload with key wk asking qname
// with qtype: each half is the name's hash under that half's seed, xored
// with the workload's half and the type. Two different IDs share a key
// only if the xors of their name hashes and workload hashes agree in all
// 128 bits, which for hashes under independent secret seeds is as likely
// as a collision of the hashes themselves.
func (wk workloadKey) forName(qname string, qtype uint16) entryKey {
	t := uint64(qtype) << 48
	return entryKey{
		maphash.String(keySeeds[0], qname) ^ wk[0] ^ t,
		maphash.String(keySeeds[1], qname) ^ wk[1] ^ t,
	}
}

// entry is one recorded (workload, name, type) and what was answered. The
// fields a lookup updates come first, so that they share as few cache
// lines as they can: inside CoreDNS under load, an entry is rarely in the
// CPU's cache when its name is asked again.
type entry struct {
	// seen is the recorder's seq at the entry's last lookup.
	seen  uint64
	count uint64
	// pending are the lookups not yet added to lookups, observedLookups
	// for service and the workload's namespace, looked up once rather
	// than per query (see flushLookups).
	pending uint64
	lookups prometheus.Counter
	// rcode is the rcode of the last answer.
	rcode int
	// service is the ExternalService that owned the name at the last
	// lookup, when it was hijacked; "" otherwise.
	service string
	// allowedFor are the ExternalServices whose client label the querying
	// pod carried at the last lookup (shared with the pod cache, never
	// changed).
	allowedFor []string
	// first and last seen, in Unix nanoseconds: no pointer for the
	// garbage collector to follow.
	last, first int64

	id  entryID
	key entryKey
}

// lookup is one query observe mode records.
type lookup struct {
	src     *source
	qname   string
	qtype   uint16
	rcode   int
	service string
	at      time.Time
}

// recorder keeps at most max entries in memory, evicting the least recently
// seen one when a new entry would go over. Nothing is written to disk.
type recorder struct {
	mu      sync.Mutex
	max     int
	entries entryTable
	// seq counts the lookups recorded: it orders entries by last seen.
	seq uint64
	// oldest are candidates for eviction (see evictOldest).
	oldest  []candidate
	evicted uint64
	// dirty are the entries with lookups pending.
	dirty []*entry
}

func newRecorder(max int) *recorder {
	return &recorder{max: max}
}

// record counts one lookup, in its entry and in observedLookups.
func (r *recorder) record(l lookup) {
	key := l.src.key.forName(l.qname, l.qtype)
	at := l.at.UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entries.get(key)
	if e == nil {
		for r.entries.len() >= r.max {
			if !r.evictOldest() {
				break
			}
		}
		e = &entry{id: entryID{workload: l.src.workload, qname: l.qname, qtype: l.qtype}, key: key, first: at}
		r.entries.add(e)
		observedEntries.Inc()
	}
	r.seq++
	e.seen = r.seq
	if e.lookups == nil || e.service != l.service {
		e.flushLookups()
		e.lookups = observedLookups.WithLabelValues(l.service, l.src.workload.Namespace)
	}
	e.rcode, e.service, e.allowedFor, e.last = l.rcode, l.service, l.src.allowedFor, at
	e.count++
	if e.pending == 0 {
		if len(r.dirty) >= 2*max(r.max, 1024) {
			r.flushLookupsLocked() // nobody scrapes: stay bounded
		}
		r.dirty = append(r.dirty, e)
	}
	e.pending++
}

// flushLookups adds the lookups recorded since the last flush to
// observedLookups. Recording adds to its entry under the recorder's lock
// instead of to the counter, an atomic add that cost an eighth of observe
// mode's time per query (BenchmarkServeDNSObserved); a scrape of the
// metrics flushes first (lookupsCollector).
func (r *recorder) flushLookups() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushLookupsLocked()
}

func (r *recorder) flushLookupsLocked() {
	for _, e := range r.dirty {
		e.flushLookups()
	}
	clear(r.dirty)
	r.dirty = r.dirty[:0]
}

func (e *entry) flushLookups() {
	if e.pending > 0 && e.lookups != nil {
		e.lookups.Add(float64(e.pending))
	}
	e.pending = 0
}

// setMax changes the cap, evicting the least recently seen entries when it
// shrinks.
func (r *recorder) setMax(max int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.max = max
	for r.entries.len() > r.max {
		if !r.evictOldest() {
			break
		}
	}
}

func (r *recorder) evict(e *entry) {
	e.flushLookups()
	r.entries.remove(e)
	r.evicted++
	observedEntries.Dec()
	observedEvictions.Inc()
}

// Report is what the observe endpoint serves: every recorded entry, sorted.
type Report struct {
	// WorkloadsSynced is false until the plugin has listed the cluster's
	// pods once; before that every source is recorded as Unknown.
	WorkloadsSynced bool `json:"workloadsSynced"`
	// MaxEntries is the cap; Evictions how many entries it pushed out.
	MaxEntries int    `json:"maxEntries"`
	Evictions  uint64 `json:"evictions"`
	// Entries are sorted by namespace, kind, workload, name and type.
	Entries []ReportEntry `json:"entries"`
}

// ReportEntry is one workload's lookups of one name and type.
type ReportEntry struct {
	Namespace string `json:"namespace,omitempty"`
	Kind      string `json:"kind"`
	Workload  string `json:"workload"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	// Rcode of the last answer: NOERROR, NXDOMAIN, SERVFAIL, ...
	Rcode string `json:"rcode"`
	// ExternalService owned the name and hijacked it at the last lookup.
	ExternalService string `json:"externalService,omitempty"`
	// AllowedFor lists the ExternalServices whose client label the pod
	// that looked the name up last carried.
	AllowedFor []string  `json:"allowedFor,omitempty"`
	FirstSeen  time.Time `json:"firstSeen"`
	LastSeen   time.Time `json:"lastSeen"`
	Count      uint64    `json:"count"`
}

// report copies the entries out, sorted, so the lock is held only for the
// copy.
func (r *recorder) report() Report {
	r.mu.Lock()
	out := Report{MaxEntries: r.max, Evictions: r.evicted, Entries: make([]ReportEntry, 0, r.entries.len())}
	for e := range r.entries.all {
		out.Entries = append(out.Entries, ReportEntry{
			Namespace: e.id.Namespace, Kind: e.id.Kind, Workload: e.id.Name,
			Name: e.id.qname, Type: typeString(e.id.qtype), Rcode: rcodeString(e.rcode),
			ExternalService: e.service, AllowedFor: e.allowedFor,
			FirstSeen: time.Unix(0, e.first).UTC(), LastSeen: time.Unix(0, e.last).UTC(), Count: e.count,
		})
	}
	r.mu.Unlock()
	slices.SortFunc(out.Entries, func(a, b ReportEntry) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Workload, b.Workload), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Type, b.Type))
	})
	return out
}

// forget drops every entry (the observer stops).
func (r *recorder) forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushLookupsLocked()
	observedEntries.Sub(float64(r.entries.len()))
	r.entries.clear()
	r.oldest = nil
}

// len is the number of entries.
func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.entries.len()
}

func typeString(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t))
}

func rcodeString(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return "RCODE" + strconv.Itoa(rc)
}
