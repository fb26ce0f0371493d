package main

import (
	"runtime/debug"
	"strconv"
	"strings"
)

// memoryLimitShare is the part of the container's memory limit the Go
// runtime aims to stay under; the rest is for what it does not count
// (stacks of the OS, fragmentation) before the kernel kills the process.
const memoryLimitShare = 0.9

// cgroupMemoryFiles hold the container's memory limit: cgroup v2, then v1.
var cgroupMemoryFiles = []string{
	"/sys/fs/cgroup/memory.max",
	"/sys/fs/cgroup/memory/memory.limit_in_bytes",
}

// setMemoryLimit sets Go's soft memory limit to 90% of the container's
// memory limit, unless GOMEMLIMIT is set or there is no limit. It returns
// the limit it set, 0 for none.
func setMemoryLimit(lookupEnv func(string) (string, bool), readFile func(string) ([]byte, error)) int64 {
	if _, set := lookupEnv("GOMEMLIMIT"); set {
		return 0
	}
	limit := containerMemoryLimit(readFile)
	if limit <= 0 {
		return 0
	}
	soft := int64(float64(limit) * memoryLimitShare)
	debug.SetMemoryLimit(soft)
	return soft
}

// containerMemoryLimit is the cgroup's memory limit in bytes, 0 when there
// is none ("max", or v1's near-2^63 "unlimited").
func containerMemoryLimit(readFile func(string) ([]byte, error)) int64 {
	for _, path := range cgroupMemoryFiles {
		b, err := readFile(path)
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || v <= 0 || v >= 1<<62 {
			return 0
		}
		return v
	}
	return 0
}
