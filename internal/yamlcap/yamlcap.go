// Package yamlcap refuses YAML documents too large or too deeply nested to
// parse safely, before a parser sees them: the YAML library's time grows
// with the cube of the nesting depth, so a small file nested a few
// thousand levels deep would hold gpuperf for minutes.
package yamlcap

import (
	"bytes"
	"fmt"
)

// Defaults for gpuperf's YAML files (plans, agent configurations), which
// are a few kilobytes and nest a handful of levels.
const (
	MaxBytes = 1 << 20
	MaxDepth = 64
)

// Check returns an error when data is longer than maxBytes or nests deeper
// than maxDepth, with the line where it does.
func Check(data []byte, maxBytes, maxDepth int) error {
	if len(data) > maxBytes {
		return fmt.Errorf("%d bytes, more than the %d a YAML file may have here", len(data), maxBytes)
	}
	if d, line := depthUpTo(data, maxDepth); d > maxDepth {
		return fmt.Errorf("line %d: nested %d levels deep, more than the %d allowed", line, d, maxDepth)
	}
	return nil
}

// Depth returns an upper estimate of how deeply data nests, and the first
// line that deep: block indentation levels, the sequence dashes that open
// a line ("- - x" is two levels) and flow brackets. Quoted text, comments
// and block scalars (| and >) do not count.
func Depth(data []byte) (depth, atLine int) { return depthUpTo(data, -1) }

// depthUpTo is Depth stopping at the first line deeper than limit
// (negative: no limit).
func depthUpTo(data []byte, limit int) (depth, atLine int) {
	var indents []int // the block indentation levels open
	flow := 0         // open [ and {, across lines
	scalarIndent := -1
	for n, line := range bytes.Split(data, []byte("\n")) {
		indent := 0
		for indent < len(line) && (line[indent] == ' ' || line[indent] == '\t') {
			indent++
		}
		rest := bytes.TrimRight(line[indent:], " \t\r")
		if len(rest) == 0 {
			continue
		}
		if scalarIndent >= 0 {
			if indent > scalarIndent {
				continue // inside a block scalar
			}
			scalarIndent = -1
		}
		if rest[0] == '#' {
			continue
		}
		if flow == 0 {
			for len(indents) > 0 && indents[len(indents)-1] >= indent {
				indents = indents[:len(indents)-1]
			}
			indents = append(indents, indent)
		}
		dashes := 0
		for len(rest) > 0 && (rest[0] == '-' || rest[0] == '?') && (len(rest) == 1 || rest[1] == ' ' || rest[1] == '\t') {
			dashes++
			rest = bytes.TrimLeft(rest[1:], " \t")
		}
		lineMax, blockScalar := scan(rest, &flow)
		if d := len(indents) + dashes + lineMax; d > depth {
			depth, atLine = d, n+1
			if limit >= 0 && d > limit {
				return depth, atLine
			}
		}
		if blockScalar {
			scalarIndent = indent
		}
	}
	return depth, atLine
}

// scan follows the flow brackets of one line, outside quotes and comments,
// updating flow; it returns the deepest flow level the line reached and
// whether the line opens a block scalar.
func scan(s []byte, flow *int) (deepest int, blockScalar bool) {
	deepest = *flow
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '"' && c == '\\':
			i++
		case quote != 0:
			if c == quote {
				if quote == '\'' && i+1 < len(s) && s[i+1] == '\'' {
					i++ // '' is a quote inside single quotes
					continue
				}
				quote = 0
			}
		case c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return deepest, false
		case (c == '"' || c == '\'') && (i == 0 || bytes.IndexByte([]byte(" \t[{,:-?"), s[i-1]) >= 0):
			quote = c
		case c == '[' || c == '{':
			*flow++
			deepest = max(deepest, *flow)
		case c == ']' || c == '}':
			if *flow > 0 {
				*flow--
			}
		case (c == '|' || c == '>') && *flow == 0 && (i == 0 || s[i-1] == ' '):
			// "key: |", "- >-": the rest of the line is a header.
			rest := bytes.TrimSpace(s[i+1:])
			if len(rest) == 0 || bytes.IndexFunc(rest, func(r rune) bool { return !bytes.ContainsRune([]byte("+-0123456789"), r) }) < 0 {
				return deepest, true
			}
		}
	}
	return deepest, false
}
