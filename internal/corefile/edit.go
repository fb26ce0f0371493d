package corefile

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/coredns/caddy/caddyfile"
	"github.com/pmezard/go-difflib/difflib"
)

// Settings are the arguments and properties of the egressoperator line.
type Settings struct {
	// GatewayNamespace is the namespace of the gateway pods.
	GatewayNamespace string
	// Zone is the cluster domain; empty takes the first zone of the block's
	// kubernetes line that is not a reverse zone, or cluster.local.
	Zone string
	// Snapshot is the snapshot file's path; empty leaves the property out.
	Snapshot string
}

// ErrNoKubernetes is returned when no server block holds the kubernetes
// plugin: there is no cluster DNS server to add the line to.
var ErrNoKubernetes = errors.New("no server block holds the kubernetes plugin")

// Enable returns the Corefile with an egressoperator line added right before
// the kubernetes line of every server block that serves the root zone and
// holds kubernetes without egressoperator, indented like that block. It
// returns the text unchanged when every such block already has the line.
// (Where the line sits in the block is cosmetic: the plugin chain's order is
// fixed when CoreDNS is built, see Directives.)
func (c *Corefile) Enable(s Settings) (string, error) {
	for _, v := range []string{s.GatewayNamespace, s.Zone, s.Snapshot} {
		if strings.ContainsAny(v, " \t\r\n\v\f#\"{}") {
			return "", fmt.Errorf("%q cannot be a Corefile argument: use a value without spaces, quotes or #", v)
		}
	}
	if s.GatewayNamespace == "" {
		return "", errors.New("the egressoperator line needs a gateway namespace")
	}
	var kube []caddyfile.ServerBlock
	for _, b := range c.blocks {
		if len(b.Tokens["kubernetes"]) > 0 {
			kube = append(kube, b)
		}
	}
	if len(kube) == 0 {
		return "", fmt.Errorf("%s: %w: egressoperator belongs in the cluster's DNS server block, next to kubernetes", c.name, ErrNoKubernetes)
	}
	var lines []int // kubernetes lines to insert before, in file order
	var settings []Settings
	for _, b := range kube {
		if !slices.ContainsFunc(b.Keys, servesRoot) || len(b.Tokens[Directive]) > 0 {
			continue
		}
		k := b.Tokens["kubernetes"]
		if c.inSnippet(k[0].Line) || !c.startsLine(k[0].Line, "kubernetes") {
			return "", fmt.Errorf("%s:%d: kubernetes does not start a line of the server block %s (it comes from a snippet or shares its line): put it on a line of its own, or add the egressoperator line by hand", c.name, k[0].Line, strings.Join(b.Keys, " "))
		}
		lineSettings := s
		if lineSettings.Zone == "" {
			lineSettings.Zone = clusterDomain(k)
		}
		lines = append(lines, k[0].Line)
		settings = append(settings, lineSettings)
	}
	if len(lines) == 0 && !slices.ContainsFunc(kube, func(b caddyfile.ServerBlock) bool {
		return slices.ContainsFunc(b.Keys, servesRoot) && len(b.Tokens[Directive]) > 0
	}) {
		return "", fmt.Errorf("%s: no server block with kubernetes serves the root zone \".\" (they serve %s), so queries for external names never reach one: add the egressoperator line by hand to the block that serves \".\"", c.name, keysOf(kube))
	}
	out := slices.Clone(c.lines)
	for i := len(lines) - 1; i >= 0; i-- {
		at := lines[i] - 1
		out = slices.Insert(out, at, c.pluginLines(lines[i], settings[i])...)
	}
	return strings.Join(out, ""), nil
}

// pluginLines are the lines of the egressoperator directive to insert before
// line (1-based), with its indentation and line ending.
func (c *Corefile) pluginLines(line int, s Settings) []string {
	text := c.lines[line-1]
	indent := text[:len(text)-len(strings.TrimLeft(text, " \t"))]
	eol := "\n"
	if strings.HasSuffix(text, "\r\n") {
		eol = "\r\n"
	}
	head := indent + Directive + " " + s.GatewayNamespace + " " + s.Zone
	if s.Snapshot == "" {
		return []string{head + eol}
	}
	unit := c.indentUnit(line, indent)
	return []string{head + " {" + eol, indent + unit + "snapshot " + s.Snapshot + eol, indent + "}" + eol}
}

// indentUnit is one level of indentation as the block around line uses it:
// how much deeper the line after an opening brace on line is indented, else
// line's own indentation (server blocks start at the margin), else 4 spaces.
func (c *Corefile) indentUnit(line int, indent string) string {
	text := strings.TrimRight(c.lines[line-1], " \t\r\n")
	if strings.HasSuffix(text, "{") && line < len(c.lines) {
		next := c.lines[line]
		nextIndent := next[:len(next)-len(strings.TrimLeft(next, " \t"))]
		if deeper, ok := strings.CutPrefix(nextIndent, indent); ok && deeper != "" {
			return deeper
		}
	}
	if indent != "" {
		return indent
	}
	return "    "
}

// startsLine reports whether the first token of line is text.
func (c *Corefile) startsLine(line int, text string) bool {
	for i, t := range c.tokens {
		if t.Line == line && firstOnLine(c.tokens, i) {
			return t.Text == text
		}
	}
	return false
}

// clusterDomain is the first zone of a kubernetes directive's arguments that
// is not a reverse zone, or cluster.local.
func clusterDomain(kubernetes []caddyfile.Token) string {
	for _, t := range kubernetes[1:] {
		if t.Line != kubernetes[0].Line || t.Text == "{" {
			break
		}
		zone := strings.ToLower(strings.TrimSuffix(t.Text, "."))
		if zone != "" && !strings.HasSuffix(zone, ".arpa") {
			return zone
		}
	}
	return "cluster.local"
}

// servesRoot reports whether a server block key ("dns://.:53", ".:53", ".",
// ":53") is the root zone.
func servesRoot(key string) bool {
	if _, rest, ok := strings.Cut(key, "://"); ok {
		key = rest
	}
	if i := strings.LastIndex(key, ":"); i >= 0 {
		key = key[:i]
	}
	return key == "" || key == "."
}

func keysOf(blocks []caddyfile.ServerBlock) string {
	var keys []string
	for _, b := range blocks {
		keys = append(keys, strings.Join(b.Keys, " "))
	}
	return strings.Join(keys, "; ")
}

// Remove returns the Corefile without the lines of every directive
// directive that starts a line of a server block; one in a snippet is
// refused.
func (c *Corefile) Remove(directive string) (string, error) {
	drop := map[int]bool{}
	depth := 0
	for i, t := range c.tokens {
		atDirective := depth == 1 && t.Text == directive && firstOnLine(c.tokens, i)
		switch t.Text {
		case "{":
			depth++
		case "}":
			depth--
		}
		if !atDirective {
			continue
		}
		if c.inSnippet(t.Line) {
			return "", fmt.Errorf("%s:%d: %s is in a snippet: remove it by hand", c.name, t.Line, directive)
		}
		// The parser makes everything up to the end of the directive's last
		// line part of it, so its lines hold nothing else.
		last := directiveEnd(c.tokens, i)
		end := c.tokens[last].Line + strings.Count(c.tokens[last].Text, "\n")
		for l := t.Line; l <= end; l++ {
			drop[l] = true
		}
	}
	var out []string
	for i, l := range c.lines {
		if !drop[i+1] {
			out = append(out, l)
		}
	}
	return strings.Join(out, ""), nil
}

// directiveEnd is the index of the last token of the directive that starts
// at tokens[i]: its arguments and its block, as the parser collects them.
func directiveEnd(tokens []caddyfile.Token, i int) int {
	nesting := 0
	for j := i + 1; j < len(tokens); j++ {
		switch {
		case tokens[j].Text == "{":
			nesting++
		case nesting == 0 && firstOnLine(tokens, j):
			return j - 1
		case tokens[j].Text == "}" && nesting == 0:
			return j - 1 // the server block's closing brace
		case tokens[j].Text == "}":
			nesting--
		}
	}
	return len(tokens) - 1
}

// Diff is a unified diff from a (named from) to b (named to), empty when
// they are equal.
func Diff(from, to, a, b string) string {
	if a == b {
		return ""
	}
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: diffLines(a), B: diffLines(b), FromFile: from, ToFile: to, Context: 3,
	})
	if err != nil { // only a failing writer errs, and a strings.Builder never fails
		return fmt.Sprintf("--- %s\n+++ %s\n(no diff: %v)\n", from, to, err)
	}
	return d
}

// diffLines splits s after each newline, the last line given one if it
// lacks it.
func diffLines(s string) []string {
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		return lines[:len(lines)-1]
	}
	lines[len(lines)-1] += "\n"
	return lines
}
