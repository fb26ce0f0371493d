// Package layering holds no code, only the test that enforces who may import
// whom (ARCHITECTURE.md, "Who may import whom"): it asks `go list` for each
// package's dependencies and fails, naming the import, when a rule is broken.
package layering
