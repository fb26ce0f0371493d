package suite

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"
)

// Report is what a run writes: which profiles were tried on which
// implementation, and every test's outcome.
type Report struct {
	APIVersion        string          `json:"apiVersion"`
	Kind              string          `json:"kind"`
	Date              string          `json:"date"`
	Implementation    Implementation  `json:"implementation"`
	SupportedFeatures []Feature       `json:"supportedFeatures"`
	Profiles          []ProfileReport `json:"profiles"`
}

// ProfileReport is one profile's outcome. Result is "success" when every
// test ran and passed, "partial" when some were skipped and none failed,
// and "failure" when any failed.
type ProfileReport struct {
	Name    ProfileName   `json:"name"`
	Result  string        `json:"result"`
	Summary string        `json:"summary"`
	Passed  []string      `json:"passed,omitempty"`
	Failed  []string      `json:"failed,omitempty"`
	Skipped []SkippedTest `json:"skipped,omitempty"`
}

// SkippedTest names a test that did not run, and why.
type SkippedTest struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Report assembles the report of the tests run so far.
func (s *Suite) Report() Report {
	r := Report{
		APIVersion:        "egress.monzo.com/v1",
		Kind:              "ConformanceReport",
		Date:              time.Now().UTC().Format(time.RFC3339),
		Implementation:    s.Implementation,
		SupportedFeatures: s.SupportedFeatures.Sorted(),
	}
	grouped := s.byProfile()
	for _, name := range AllProfiles {
		results := grouped[name]
		if len(results) == 0 {
			continue
		}
		pr := ProfileReport{Name: name}
		for _, res := range results {
			switch res.outcome {
			case "passed":
				pr.Passed = append(pr.Passed, res.test.ShortName)
			case "failed":
				pr.Failed = append(pr.Failed, res.test.ShortName)
			default:
				pr.Skipped = append(pr.Skipped, SkippedTest{Name: res.test.ShortName, Reason: res.reason})
			}
		}
		switch {
		case len(pr.Failed) > 0:
			pr.Result = "failure"
		case len(pr.Skipped) > 0:
			pr.Result = "partial"
		default:
			pr.Result = "success"
		}
		pr.Summary = fmt.Sprintf("%d passed, %d failed, %d skipped", len(pr.Passed), len(pr.Failed), len(pr.Skipped))
		r.Profiles = append(r.Profiles, pr)
	}
	return r
}

// WriteReport writes the report as YAML to path.
func (s *Suite) WriteReport(path string) error {
	b, err := yaml.Marshal(s.Report())
	if err != nil {
		return fmt.Errorf("encode the conformance report: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write the conformance report: %w", err)
	}
	return nil
}

// PrintSummary writes a table of profiles and, below it, every test that
// failed or was skipped.
func (s *Suite) PrintSummary(out io.Writer) {
	rep := s.Report()
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "PROFILE\tRESULT\tPASSED\tFAILED\tSKIPPED")
	var notes []string
	for _, p := range rep.Profiles {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\n", p.Name, p.Result, len(p.Passed), len(p.Failed), len(p.Skipped))
		for _, f := range p.Failed {
			notes = append(notes, fmt.Sprintf("FAILED  %s/%s", p.Name, f))
		}
		for _, sk := range p.Skipped {
			notes = append(notes, fmt.Sprintf("SKIPPED %s/%s: %s", p.Name, sk.Name, sk.Reason))
		}
	}
	_ = w.Flush()
	if len(notes) > 0 {
		fmt.Fprintln(out, strings.Join(notes, "\n"))
	}
}
