package ociimage

import (
	"encoding/binary"
	"fmt"
)

// Linux's file capabilities (linux/capability.h): the security.capability
// xattr holds a struct vfs_cap_data, little-endian.
const (
	vfsCapRevision2     = 0x02000000
	vfsCapFlagEffective = 0x000001
	vfsCapRevisionMask  = 0xFF000000
	vfsCapDataSize2     = 20 // magic_etc, then {permitted, inheritable} twice
	capNetBindService   = 10
)

// netBindServiceCapability is `setcap cap_net_bind_service=+ep`: revision 2,
// effective, permitted bit 10, nothing inheritable.
func netBindServiceCapability() []byte {
	b := make([]byte, vfsCapDataSize2)
	binary.LittleEndian.PutUint32(b[0:], vfsCapRevision2|vfsCapFlagEffective)
	binary.LittleEndian.PutUint32(b[4:], 1<<capNetBindService) // permitted, low word
	return b
}

// FileCapability is a decoded security.capability xattr.
type FileCapability struct {
	// Effective says the permitted capabilities are raised at exec.
	Effective bool
	// Permitted and Inheritable are capability bit sets (bit n is
	// capability number n, e.g. 10 for cap_net_bind_service).
	Permitted, Inheritable uint64
}

// DecodeFileCapability reads a revision 2 vfs_cap_data, the form
// `setcap` writes and a layer's SCHILY.xattr.security.capability carries.
func DecodeFileCapability(b []byte) (FileCapability, error) {
	if len(b) != vfsCapDataSize2 {
		return FileCapability{}, fmt.Errorf("file capability: %d bytes, want %d (vfs_cap_data revision 2)", len(b), vfsCapDataSize2)
	}
	magic := binary.LittleEndian.Uint32(b[0:])
	if magic&vfsCapRevisionMask != vfsCapRevision2 {
		return FileCapability{}, fmt.Errorf("file capability: revision %#x, want %#x", magic&vfsCapRevisionMask, vfsCapRevision2)
	}
	word := func(off int) uint64 { return uint64(binary.LittleEndian.Uint32(b[off:])) }
	return FileCapability{
		Effective:   magic&vfsCapFlagEffective != 0,
		Permitted:   word(4) | word(12)<<32,
		Inheritable: word(8) | word(16)<<32,
	}, nil
}

// NetBindService reports whether c is exactly cap_net_bind_service=+ep.
func (c FileCapability) NetBindService() bool {
	return c.Effective && c.Permitted == 1<<capNetBindService && c.Inheritable == 0
}
