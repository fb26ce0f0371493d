package dnsplugin

import (
	"cmp"
	"container/heap"
	"slices"
)

// How the recorder finds the least recently seen entry. A list kept in
// order of last lookup would be exact too, but moving an entry to its
// front touches two other entries, and inside CoreDNS under load those are
// cache misses on every lookup. Instead each entry notes the recorder's
// sequence number at its last lookup (entry.seen), and eviction, which only
// a new entry over the cap needs, finds the oldest ones by a scan.

// candidate is an entry found among the least recently seen by a scan, and
// its seen then.
type candidate struct {
	e    *entry
	seen uint64
}

// evictOldest evicts the least recently seen entry and reports whether
// there was one.
//
// It takes the first candidate that is still in the recorder and has not
// been looked up since the scan that found it. That one is the least
// recently seen entry of all: at the scan every other entry left was seen
// later (candidates are kept in order, and the scan keeps the oldest), and
// entries looked up or made since are later still. A scan keeps a
// sixteenth of the cap, or all that must go when the cap shrank, so a
// flood of new names costs a scan per max/16 evictions.
func (r *recorder) evictOldest() bool {
	for {
		if len(r.oldest) == 0 {
			r.scanOldest(max(r.entries.len()-r.max+1, r.max/16, 1))
			if len(r.oldest) == 0 {
				return false
			}
		}
		c := r.oldest[0]
		r.oldest[0] = candidate{} // an evicted entry is not kept alive
		r.oldest = r.oldest[1:]
		if c.e.seen == c.seen && r.entries.get(c.e.key) == c.e {
			r.evict(c.e)
			return true
		}
	}
}

// scanOldest sets oldest to the n least recently seen entries, the least
// recent first.
func (r *recorder) scanOldest(n int) {
	h := make(newestFirst, 0, min(n, r.entries.len()))
	for e := range r.entries.all {
		switch {
		case len(h) < n:
			heap.Push(&h, candidate{e, e.seen})
		case e.seen < h[0].seen:
			h[0] = candidate{e, e.seen}
			heap.Fix(&h, 0)
		}
	}
	slices.SortFunc(h, func(a, b candidate) int { return cmp.Compare(a.seen, b.seen) })
	r.oldest = h
}

// newestFirst is a heap of candidates whose top is the most recently seen,
// the first to drop out of the n oldest.
type newestFirst []candidate

func (h newestFirst) Len() int           { return len(h) }
func (h newestFirst) Less(i, j int) bool { return h[i].seen > h[j].seen }
func (h newestFirst) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *newestFirst) Push(x any)        { *h = append(*h, x.(candidate)) }
func (h *newestFirst) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
