package dnsplugin

import (
	"math/rand/v2"
	"testing"
)

// The table agrees with a Go map through a long random run of adds,
// lookups and removals, with keys chosen so that runs collide and wrap
// around the end of the slots.
func TestEntryTableAgreesWithMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var table entryTable
	want := map[entryKey]*entry{}
	keys := make([]entryKey, 0, 512)
	for i := range 512 {
		// Few distinct first halves: long runs of probing.
		keys = append(keys, entryKey{uint64(rng.IntN(96)) | uint64(i%3)<<62, uint64(i)})
	}
	for step := range 200_000 {
		k := keys[rng.IntN(len(keys))]
		switch e, ok := want[k]; {
		case !ok && rng.IntN(3) > 0:
			e = &entry{key: k}
			table.add(e)
			want[k] = e
		case ok && rng.IntN(2) == 0:
			if !table.remove(e) {
				t.Fatalf("step %d: remove of a present entry reported absent", step)
			}
			delete(want, k)
		}
		probe := keys[rng.IntN(len(keys))]
		if got := table.get(probe); got != want[probe] {
			t.Fatalf("step %d: get(%v) = %p, want %p", step, probe, got, want[probe])
		}
		if table.len() != len(want) {
			t.Fatalf("step %d: len %d, want %d", step, table.len(), len(want))
		}
	}
	seen := 0
	for e := range table.all {
		if want[e.key] != e {
			t.Fatalf("all yields %v, not in the map", e.key)
		}
		seen++
	}
	if seen != len(want) {
		t.Fatalf("all yields %d entries, want %d", seen, len(want))
	}
	if table.remove(&entry{key: keys[0]}) {
		t.Error("remove of an entry never added reported present")
	}
}
