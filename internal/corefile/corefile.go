// Package corefile reads and edits a cluster's Corefile for `egressctl dns`:
// it is the step between the CoreDNS ConfigMap egressctl reads and the one it
// writes back with the egressoperator line (dnsplugin/) added or removed.
//
// A Corefile is parsed with CoreDNS's own parser (github.com/coredns/caddy's
// caddyfile) and the directives of egressgate's CoreDNS, never with regular
// expressions. That parser drops comments, so edits are made to the
// original text at the line numbers of the parsed tokens: every other byte,
// comments, indentation and line endings included, is kept.
//
// The parser would read the files an `import` line names; this package never
// lets it: file imports are taken out of what the parser sees and left
// untouched in the text (their content lives in the CoreDNS container, not
// here). Imports of snippets defined earlier in the Corefile are resolved in
// memory, as CoreDNS does.
//
// It imports nothing of egressgate's.
package corefile

import (
	"fmt"
	"slices"
	"strings"

	"github.com/coredns/caddy/caddyfile"
)

// Corefile is a parsed Corefile and its original text.
type Corefile struct {
	name   string
	text   string
	lines  []string          // text split after each "\n", line i+1 at index i
	tokens []caddyfile.Token // every token of text, file imports included
	blocks []caddyfile.ServerBlock
	// snippets are the line ranges of snippet definitions, "(name) { ... }".
	snippets [][2]int
	// Imports are the file imports the Corefile holds, left unresolved.
	Imports []Import
}

// Import is a file import: `import PATTERN` on line Line.
type Import struct {
	Line    int
	Pattern string
}

// Parse parses text (named name in errors) with CoreDNS's parser and the
// directives of egressgate's CoreDNS. An error quotes the parser's message,
// which names the line.
func Parse(name, text string) (*Corefile, error) {
	c := &Corefile{name: name, text: text, lines: strings.SplitAfter(text, "\n")}
	d := caddyfile.NewDispenser(name, strings.NewReader(text))
	for d.Next() {
		c.tokens = append(c.tokens, caddyfile.Token{File: name, Line: d.Line(), Text: d.Val()})
	}
	c.snippets = snippetRanges(c.tokens)
	kept, imports := withoutFileImports(c.tokens)
	c.Imports = imports
	blocks, err := caddyfile.Parse(name, strings.NewReader(render(kept)), Directives())
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	c.blocks = blocks
	return c, nil
}

// Text is the Corefile as it was given.
func (c *Corefile) Text() string { return c.text }

// Names reports whether any server block names directive.
func (c *Corefile) Names(directive string) bool {
	for _, b := range c.blocks {
		if len(b.Tokens[directive]) > 0 {
			return true
		}
	}
	return false
}

// firstOnLine reports whether tokens[i] is the first token of its line.
func firstOnLine(tokens []caddyfile.Token, i int) bool {
	if i == 0 {
		return true
	}
	prev := tokens[i-1]
	return prev.Line+strings.Count(prev.Text, "\n") < tokens[i].Line
}

// isImport reports whether the parser would take tokens[i] as an import
// directive: "import" at the start of a line or right after an opening
// brace (a superset of the parser's own rule, so that no file import is
// missed).
func isImport(tokens []caddyfile.Token, i int) bool {
	return tokens[i].Text == "import" && (firstOnLine(tokens, i) || tokens[i-1].Text == "{")
}

// withoutFileImports returns tokens without the file imports, and those
// imports. An import is a file import unless it names a snippet defined
// before it (then the parser expands it from memory). An import whose
// argument count is wrong is kept: the parser refuses it before it looks
// for any file.
func withoutFileImports(tokens []caddyfile.Token) ([]caddyfile.Token, []Import) {
	snippets := map[string]bool{}
	var kept []caddyfile.Token
	var imports []Import
	depth := 0
	for i := 0; i < len(tokens); i++ {
		t := tokens[i]
		switch t.Text {
		case "{":
			depth++
		case "}":
			depth--
		}
		if name, ok := snippetName(tokens, i, depth); ok {
			snippets[name] = true
		}
		if isImport(tokens, i) && oneArgument(tokens, i) && tokens[i+1].Text != "" && !snippets[tokens[i+1].Text] {
			imports = append(imports, Import{Line: t.Line, Pattern: tokens[i+1].Text})
			i++ // skip the pattern too
			continue
		}
		kept = append(kept, t)
	}
	return kept, imports
}

// oneArgument reports whether tokens[i] is followed by exactly one token on
// its line.
func oneArgument(tokens []caddyfile.Token, i int) bool {
	if i+1 >= len(tokens) || firstOnLine(tokens, i+1) {
		return false
	}
	return i+2 >= len(tokens) || firstOnLine(tokens, i+2)
}

// snippetName reports whether tokens[i], at brace depth depth, opens a
// snippet definition "(name) {", and its name.
func snippetName(tokens []caddyfile.Token, i, depth int) (string, bool) {
	t := tokens[i].Text
	if depth != 0 || !firstOnLine(tokens, i) || len(t) < 3 || t[0] != '(' || t[len(t)-1] != ')' {
		return "", false
	}
	if i+1 >= len(tokens) || tokens[i+1].Text != "{" {
		return "", false
	}
	return t[1 : len(t)-1], true
}

// snippetRanges returns the first and last line of every snippet definition.
func snippetRanges(tokens []caddyfile.Token) [][2]int {
	var ranges [][2]int
	depth, start := 0, 0
	for i, t := range tokens {
		if _, ok := snippetName(tokens, i, depth); ok {
			start = t.Line
		}
		switch t.Text {
		case "{":
			depth++
		case "}":
			depth--
			if depth == 0 && start > 0 {
				ranges = append(ranges, [2]int{start, t.Line})
				start = 0
			}
		}
	}
	return ranges
}

// inSnippet reports whether line lies in a snippet definition.
func (c *Corefile) inSnippet(line int) bool {
	return slices.ContainsFunc(c.snippets, func(r [2]int) bool { return line >= r[0] && line <= r[1] })
}

// render writes tokens back as Corefile text the parser reads as the same
// tokens on the same lines.
func render(tokens []caddyfile.Token) string {
	var b strings.Builder
	line := 1
	for i, t := range tokens {
		if t.Line > line {
			b.WriteString(strings.Repeat("\n", t.Line-line))
			line = t.Line
		} else if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(quote(t.Text))
		line += strings.Count(t.Text, "\n")
	}
	b.WriteByte('\n')
	return b.String()
}

// quote returns s as the lexer reads it back: bare when it can be, else in
// double quotes with its quotes escaped.
func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\r\n\v\f#\"") {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}
