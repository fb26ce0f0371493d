package charts

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/egressgate/egressgate/internal/operatorconfig"
)

// Chart is the chart's directory, relative to the repository's root.
const Chart = "charts/egressgate"

// copies are the repository's files the chart carries under files/: one
// source each, copied by Generate.
var copies = map[string]string{
	"crds/egress.monzo.com_externalservices.yaml": "files/crds/egress.monzo.com_externalservices.yaml",
	"config/rbac/role.yaml":                       "files/rbac/role.yaml",
	"config/coredns/rbac.yaml":                    "files/coredns/rbac.yaml",
}

// chartDefaults are the flags whose value in the chart differs from the
// binary's default, and why.
var chartDefaults = map[string]any{
	// The chart runs two replicas; only the leader reconciles.
	"leader-elect": true,
}

// Generate rewrites the chart's generated parts under root (the
// repository): the flags and env blocks of values.yaml, their schema in
// values.schema.json, and files/.
func Generate(root string) error {
	chart := filepath.Join(root, Chart)
	for from, to := range copies {
		data, err := os.ReadFile(filepath.Join(root, from))
		if err != nil {
			return fmt.Errorf("copy %s into the chart: %w", from, err)
		}
		dst := filepath.Join(chart, to)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return err
		}
	}
	if err := rewriteValues(filepath.Join(chart, "values.yaml")); err != nil {
		return err
	}
	return rewriteSchema(filepath.Join(chart, "values.schema.json"))
}

// rewriteValues replaces the text between each "# BEGIN GENERATED x" and
// "# END GENERATED x" line of values.yaml.
func rewriteValues(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out := string(data)
	for block, body := range map[string]string{"flags": flagsBlock(), "env": envBlock()} {
		begin, end := "  # BEGIN GENERATED "+block+"\n", "  # END GENERATED "+block+"\n"
		i, j := strings.Index(out, begin), strings.Index(out, end)
		if i < 0 || j < i {
			return fmt.Errorf("%s: no %q ... %q lines to generate between", path, strings.TrimSpace(begin), strings.TrimSpace(end))
		}
		out = out[:i+len(begin)] + body + out[j:]
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

func flagsBlock() string {
	var b strings.Builder
	b.WriteString("  # egress-operator's flags, named as on its command line; null leaves a\n")
	b.WriteString("  # flag out (the binary's default applies).\n  flags:\n")
	for _, f := range operatorconfig.Settings() {
		fmt.Fprintf(&b, "    # %s\n    %s: %s\n", f.Usage, f.Name, yamlScalar(flagDefault(f)))
	}
	return b.String()
}

func envBlock() string {
	var b strings.Builder
	b.WriteString("  # egress-operator's environment, under the original egress-operator's\n")
	b.WriteString("  # names; an empty value leaves the variable unset.\n  env:\n")
	for _, e := range operatorconfig.Environment() {
		fmt.Fprintf(&b, "    # %s\n    %s: \"\"\n", e.Description, e.Name)
	}
	return b.String()
}

func yamlScalar(v any) string {
	out, err := yaml.Marshal(v)
	if err != nil {
		panic(err) // scalars always marshal
	}
	return strings.TrimSpace(string(out))
}

// flagKind is the JSON schema type of a flag's value.
func flagKind(f *flag.Flag) string {
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return "boolean"
	}
	if g, ok := f.Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case int, int64, uint, uint64:
			return "integer"
		case time.Duration:
			return "duration"
		}
	}
	return "string"
}

// flagDefault is the chart's value for f: chartDefaults, else the
// binary's default; nil for an empty string (the flag is left out).
func flagDefault(f *flag.Flag) any {
	if v, ok := chartDefaults[f.Name]; ok {
		return v
	}
	switch flagKind(f) {
	case "boolean":
		return f.DefValue == "true"
	case "integer":
		n, err := strconv.Atoi(f.DefValue)
		if err != nil {
			panic(fmt.Sprintf("flag %s: default %q is not an integer", f.Name, f.DefValue))
		}
		return n
	}
	if f.DefValue == "" {
		return nil
	}
	return f.DefValue
}

// rewriteSchema sets operator.flags and operator.env in the schema; the
// rest of the file is written by hand. Keys come out sorted.
func rewriteSchema(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	operator, ok := dig(schema, "properties", "operator", "properties")
	if !ok {
		return fmt.Errorf("%s: no properties.operator.properties to generate into", path)
	}
	operator["flags"] = flagsSchema()
	operator["env"] = envSchema()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(schema); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func dig(m map[string]any, keys ...string) (map[string]any, bool) {
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			return nil, false
		}
		m = next
	}
	return m, true
}

func flagsSchema() map[string]any {
	props := map[string]any{}
	for _, f := range operatorconfig.Settings() {
		p := map[string]any{"description": f.Usage}
		switch k := flagKind(f); k {
		case "duration":
			p["type"] = []any{"string", "null"}
			p["pattern"] = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
		default:
			p["type"] = []any{k, "null"}
		}
		props[f.Name] = p
	}
	return map[string]any{
		"description":          "egress-operator's flags; a name that is no flag is refused",
		"type":                 "object",
		"additionalProperties": false,
		"properties":           props,
	}
}

func envSchema() map[string]any {
	props := map[string]any{}
	for _, e := range operatorconfig.Environment() {
		p := map[string]any{"description": e.Description, "type": "string"}
		if e.Pattern != "" {
			p["pattern"] = e.Pattern
		}
		props[e.Name] = p
	}
	return map[string]any{
		"description":          "egress-operator's environment variables; a name it does not read is refused",
		"type":                 "object",
		"additionalProperties": false,
		"properties":           props,
	}
}
