package dnsplugin

// entryTable is the recorder's index of entries by key: open addressing
// with linear probing, each slot holding the first half of its entry's
// key beside the entry. Inside CoreDNS under load a Go map cost three
// cache misses per lookup (its header, a control word, the slot); this
// costs one, the slot, before the entry, which a lookup reads anyway.
// Keys are random 128-bit hashes: the first half places an entry and is
// compared first, the whole key confirms.
type entryTable struct {
	slots []slot // a power of two of them, at most half in use
	n     int
}

type slot struct {
	tag uint64 // e.key[0]
	e   *entry
}

const minTableSlots = 64

func (t *entryTable) len() int { return t.n }

// get is the entry with key k, or nil.
func (t *entryTable) get(k entryKey) *entry {
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := k[0] & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.e == nil {
			return nil
		}
		if s.tag == k[0] && s.e.key == k {
			return s.e
		}
	}
}

// add inserts e, whose key is not in the table.
func (t *entryTable) add(e *entry) {
	if 2*(t.n+1) > len(t.slots) {
		t.resize(max(2*len(t.slots), minTableSlots))
	}
	t.place(e)
	t.n++
}

func (t *entryTable) place(e *entry) {
	mask := uint64(len(t.slots) - 1)
	i := e.key[0] & mask
	for t.slots[i].e != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = slot{tag: e.key[0], e: e}
}

func (t *entryTable) resize(n int) {
	old := t.slots
	t.slots = make([]slot, n)
	for _, s := range old {
		if s.e != nil {
			t.place(s.e)
		}
	}
}

// remove deletes e and reports whether it was there. Entries later in
// its run that may sit in the freed slot move back into it (backward-shift
// deletion), so lookups need no markers of deleted slots.
func (t *entryTable) remove(e *entry) bool {
	if t.n == 0 {
		return false
	}
	mask := uint64(len(t.slots) - 1)
	i := e.key[0] & mask
	for t.slots[i].e != e {
		if t.slots[i].e == nil {
			return false
		}
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; t.slots[j].e != nil; j = (j + 1) & mask {
		// The entry at j may fill the hole at i unless its home slot
		// lies after i (cyclically) up to j: it is at least as far
		// from home as the hole is from it.
		if home := t.slots[j].tag & mask; (j-home)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = slot{}
	t.n--
	return true
}

// all yields every entry, in no particular order; the table must not
// change meanwhile.
func (t *entryTable) all(yield func(*entry) bool) {
	for _, s := range t.slots {
		if s.e != nil && !yield(s.e) {
			return
		}
	}
}

// clear empties the table and gives its memory back.
func (t *entryTable) clear() {
	t.slots, t.n = nil, 0
}
