package main

import (
	"errors"
	"io/fs"
	"testing"
)

func TestContainerMemoryLimit(t *testing.T) {
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(p string) ([]byte, error) {
			if v, ok := m[p]; ok {
				return []byte(v), nil
			}
			return nil, fs.ErrNotExist
		}
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"cgroup v2 limit", map[string]string{"/sys/fs/cgroup/memory.max": "268435456\n"}, 268435456},
		{"cgroup v2 no limit", map[string]string{"/sys/fs/cgroup/memory.max": "max\n"}, 0},
		{"cgroup v1 limit", map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "134217728\n"}, 134217728},
		{"cgroup v1 unlimited", map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"}, 0},
		{"no cgroup", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := containerMemoryLimit(files(tc.files)); got != tc.want {
				t.Errorf("containerMemoryLimit = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestGOMEMLIMITWins(t *testing.T) {
	env := func(string) (string, bool) { return "100MiB", true }
	read := func(string) ([]byte, error) { return nil, errors.New("not read") }
	if got := setMemoryLimit(env, read); got != 0 {
		t.Errorf("setMemoryLimit with GOMEMLIMIT set = %d, want 0 (left alone)", got)
	}
}
