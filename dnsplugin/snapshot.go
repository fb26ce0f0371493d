package dnsplugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// A snapshot is the last table built from complete lists, kept in a file
// (the `snapshot` property; an emptyDir volume in a cluster) so that a
// CoreDNS container that restarts while the API server is unreachable
// answers hijacked names correctly at once instead of passing them through.
// It holds names and addresses only, as JSON.

// snapshotVersion changes when the format does; a file of another version is
// ignored.
const snapshotVersion = 1

type snapshotFile struct {
	Version int `json:"version"`
	// Written is when the table was built, for the log.
	Written time.Time `json:"written"`
	// Names maps each hijacked name (lowercase FQDN) to its owner and
	// addresses.
	Names map[string]snapshotRecord `json:"names"`
	// Gateways are the gateway pod IPs.
	Gateways []string `json:"gateways"`
}

type snapshotRecord struct {
	Service   string   `json:"service"`
	Addresses []string `json:"addresses,omitempty"`
}

// encodeSnapshot is t as a snapshot file's content, without the time, so
// that equal tables encode to equal bytes.
func encodeSnapshot(t *Table) ([]byte, error) {
	f := snapshotFile{Version: snapshotVersion, Names: make(map[string]snapshotRecord, len(t.names))}
	for name, r := range t.names {
		var addrs []string
		for _, ip := range slices.Concat(r.a, r.aaaa) {
			addrs = append(addrs, ip.String())
		}
		f.Names[name] = snapshotRecord{Service: r.service, Addresses: addrs}
	}
	for ip := range t.gateways {
		f.Gateways = append(f.Gateways, ip.String())
	}
	slices.Sort(f.Gateways)
	return json.Marshal(f) // map keys are sorted
}

// writeSnapshot writes content (from encodeSnapshot) to path atomically: a
// reader finds the old file or the new one, never a part.
func writeSnapshot(path string, content []byte) error {
	var f snapshotFile
	if err := json.Unmarshal(content, &f); err != nil {
		return err
	}
	f.Written = time.Now().UTC().Truncate(time.Second)
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".snapshot-*")
	if err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write snapshot %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write snapshot %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// readSnapshot loads the table a snapshot file holds, and when it was built.
func readSnapshot(path string) (*Table, time.Time, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	var f snapshotFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, time.Time{}, fmt.Errorf("read snapshot %s: %w", path, err)
	}
	if f.Version != snapshotVersion {
		return nil, time.Time{}, fmt.Errorf("snapshot %s has version %d, this CoreDNS reads %d", path, f.Version, snapshotVersion)
	}
	t := &Table{names: make(map[string]*record, len(f.Names)), gateways: make(map[netip.Addr]struct{}, len(f.Gateways))}
	for name, r := range f.Names {
		rec := &record{service: r.Service}
		for _, s := range r.Addresses {
			ip, err := netip.ParseAddr(s)
			if err != nil {
				return nil, time.Time{}, fmt.Errorf("snapshot %s: name %s: %w", path, name, err)
			}
			if ip.Is4() {
				rec.a = append(rec.a, net.IP(ip.AsSlice()))
			} else {
				rec.aaaa = append(rec.aaaa, net.IP(ip.AsSlice()))
			}
		}
		t.names[canonicalName(name)] = rec
	}
	for _, s := range f.Gateways {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("snapshot %s: gateway %w", path, err)
		}
		t.gateways[ip] = struct{}{}
	}
	return t, f.Written, nil
}
