// Package crdpaths finds the CustomResourceDefinitions egressgate runs with: its
// own from crds/, Gateway API's standard channel and Istio's, the latter two
// read from the Go module cache at the versions go.mod pins. Tests, the
// benchmark and the local cluster install them from here.
package crdpaths

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// Paths are CRD files and directories, as envtest's CRDDirectoryPaths takes them.
type Paths []string

// RepoRoot is the directory of egressgate's go.mod.
func RepoRoot() (string, error) {
	out, err := goCmd("env", "GOMOD")
	if err != nil {
		return "", err
	}
	if out == "" || out == "/dev/null" {
		return "", fmt.Errorf("not inside the egressgate module")
	}
	return filepath.Dir(out), nil
}

// Ours is crds/ of the repository.
func Ours() (Paths, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	return Paths{filepath.Join(root, "crds")}, nil
}

// GatewayAPI is Gateway API's standard channel (TLSRoute and TCPRoute are
// v1 there), without the ValidatingAdmissionPolicy that file set carries.
func GatewayAPI() (Paths, error) {
	dir, err := moduleDir("sigs.k8s.io/gateway-api")
	if err != nil {
		return nil, err
	}
	matches, err := filepath.Glob(filepath.Join(dir, "config", "crd", "standard", "gateway.networking.k8s.io_*.yaml"))
	if err != nil {
		return nil, err
	}
	var paths Paths
	for _, m := range matches {
		if !strings.Contains(filepath.Base(m), "_vap_") {
			paths = append(paths, m)
		}
	}
	return paths, nil
}

// Istio is every Istio CRD, from the istio.io/api module.
func Istio() (Paths, error) {
	dir, err := moduleDir("istio.io/api")
	if err != nil {
		return nil, err
	}
	return Paths{filepath.Join(dir, "kubernetes", "customresourcedefinitions.gen.yaml")}, nil
}

// All is ours, Gateway API's and Istio's.
func All() (Paths, error) { return join(Ours, GatewayAPI, Istio) }

// Theirs is every CRD but egressgate's own: Gateway API's and Istio's.
func Theirs() (Paths, error) { return join(GatewayAPI, Istio) }

func join(sets ...func() (Paths, error)) (Paths, error) {
	var all Paths
	for _, f := range sets {
		p, err := f()
		if err != nil {
			return nil, err
		}
		all = append(all, p...)
	}
	return all, nil
}

func moduleDir(module string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("find module %s (run 'go mod download'): %v: %s", module, err, stderr.String())
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("module %s is not downloaded: run 'go mod download'", module)
	}
	return dir, nil
}

func goCmd(args ...string) (string, error) {
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}
