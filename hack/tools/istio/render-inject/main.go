// Command render-inject writes the injection files istiod reads from
// ./var/lib/istio/inject/config and ./var/lib/istio/inject/values.
//
// istiod's gateway deployment controller renders a gateway's Deployment,
// Service, HPA and PDB from the "kube-gateway" template of that config; without
// the files it logs `no "kube-gateway" template defined` and creates nothing.
// In a real install they are the "config" and "values" keys of the
// istio-sidecar-injector ConfigMap. This program renders the Helm charts
// embedded in the istio.io/istio module that hack/tools/istio/go.mod pins,
// with Istio's own renderer (the one `istioctl manifest generate` uses), for
// `--set profile=minimal`, and copies the two keys out of that ConfigMap.
//
// `make tools` runs it (see mk/cluster.mk):
//
//	cd hack/tools/istio && go run ./render-inject -out ../../../bin/istio/inject
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"istio.io/istio/operator/pkg/manifest"
	"istio.io/istio/operator/pkg/render"
	"istio.io/istio/pkg/kube/inject"
)

// configMapName is the ConfigMap the istiod chart renders for the default
// revision; its config and values keys are what istiod reads from files.
const configMapName = "istio-sidecar-injector"

func main() {
	out := flag.String("out", "", "directory to write config and values into (required)")
	hub := flag.String("hub", "docker.io/istio", "image registry for the proxy image the templates name")
	tag := flag.String("tag", "1.31.1", "image tag for the proxy image the templates name")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "render-inject: -out is required")
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, *hub, *tag); err != nil {
		fmt.Fprintln(os.Stderr, "render-inject:", err)
		os.Exit(1)
	}
}

func run(out, hub, tag string) error {
	data, err := injectorData(
		"profile=minimal",
		"hub="+hub,
		"tag="+tag,
	)
	if err != nil {
		return err
	}
	if err := check(data["config"], data["values"]); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", out, err)
	}
	for _, key := range []string{"config", "values"} {
		path := filepath.Join(out, key)
		if err := os.WriteFile(path, []byte(data[key]), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

// injectorData renders the charts with the given --set flags (as istioctl
// takes them) and returns the data of the istio-sidecar-injector ConfigMap.
func injectorData(setFlags ...string) (map[string]string, error) {
	sets, _, err := render.GenerateManifest(nil, setFlags, false, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("render the Istio charts with %v: %w", setFlags, err)
	}
	var found *manifest.Manifest
	for _, set := range sets {
		for i, m := range set.Manifests {
			if m.GetKind() == "ConfigMap" && m.GetName() == configMapName {
				found = &set.Manifests[i]
			}
		}
	}
	if found == nil {
		return nil, fmt.Errorf("the rendered charts have no ConfigMap %s", configMapName)
	}
	data := map[string]string{}
	for _, key := range []string{"config", "values"} {
		v, ok, err := unstructured.NestedString(found.Object, "data", key)
		if err != nil || !ok || v == "" {
			return nil, fmt.Errorf("ConfigMap %s has no data key %q", configMapName, key)
		}
		data[key] = v
	}
	return data, nil
}

// gatewayTemplate is the template istiod's gateway deployment controller
// renders for a Gateway of class istio.
const gatewayTemplate = "kube-gateway"

// check parses config and values the way istiod does when it loads them
// (pkg/kube/inject), so a broken file fails here rather than in istiod's log.
func check(config, values string) error {
	c, err := inject.UnmarshalConfig([]byte(config))
	if err != nil {
		return fmt.Errorf("parse the rendered injection config: %w", err)
	}
	raw, ok := c.RawTemplates[gatewayTemplate]
	if !ok {
		return fmt.Errorf("the rendered injection config has no %q template", gatewayTemplate)
	}
	if _, err := inject.ParseTemplates(inject.RawTemplates{gatewayTemplate: raw}); err != nil {
		return fmt.Errorf("parse the %q template: %w", gatewayTemplate, err)
	}
	if _, err := inject.NewValuesConfig(values); err != nil {
		return fmt.Errorf("parse the rendered injection values: %w", err)
	}
	return nil
}
