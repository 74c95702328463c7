package openai

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Annotation keys; see facts.annotations.
const (
	// FactTokenSource is where output token counts came from: "usage"
	// (the server's usage.completion_tokens), "chunks" (streamed chunks
	// that carried text, counted by the client), "mixed", or "none" when
	// no sample succeeded. Token metrics of two runs compare only when
	// both came from the same source.
	FactTokenSource = "token_count_source"
	// FactTokenSamples, only for "mixed", counts the samples of each.
	FactTokenSamples = "token_count_samples"
	// FactChunksMatchUsage is "true" when every streamed sample with
	// usage had as many text chunks as tokens: chunk times are then
	// token times.
	FactChunksMatchUsage = "chunks_match_usage"
	// FactFinishReasons lists the finish_reason values seen, sorted and
	// comma-separated: "length" alone means every response ran to
	// max_tokens, so both sides generated the same number of tokens.
	FactFinishReasons = "finish_reasons"
)

// The values of FactTokenSource.
const (
	SourceUsage  = "usage"
	SourceChunks = "chunks"
	SourceMixed  = "mixed"
	SourceNone   = "none"
)

// facts accumulates, over one Start–Stop, what the comparison must know
// about the successful samples.
type facts struct {
	mu       sync.Mutex
	usage    int // samples counted from usage
	chunks   int // samples counted from chunks
	mismatch int // streamed samples whose usage and chunk counts differ
	finish   map[string]int
}

func (f *facts) reset() {
	f.mu.Lock()
	f.usage, f.chunks, f.mismatch = 0, 0, 0
	f.finish = nil
	f.mu.Unlock()
}

func (f *facts) add(o outcome) {
	if o.err != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if o.usage >= 0 {
		f.usage++
		if o.chunks != o.usage {
			f.mismatch++
		}
	} else {
		f.chunks++
	}
	if o.finish != "" {
		if f.finish == nil {
			f.finish = make(map[string]int)
		}
		f.finish[o.finish]++
	}
}

// annotations returns the facts as Result.BackendFacts. They hold no
// counts that depend on the run's length, except FactTokenSamples when the
// sources are mixed (a comparison refuses those anyway).
func (f *facts) annotations(stream bool) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]string, 4)
	switch {
	case f.usage > 0 && f.chunks > 0:
		out[FactTokenSource] = SourceMixed
		out[FactTokenSamples] = fmt.Sprintf("usage=%d chunks=%d", f.usage, f.chunks)
	case f.usage > 0:
		out[FactTokenSource] = SourceUsage
	case f.chunks > 0:
		out[FactTokenSource] = SourceChunks
	default:
		out[FactTokenSource] = SourceNone
	}
	if stream && f.usage > 0 {
		out[FactChunksMatchUsage] = strconv.FormatBool(f.mismatch == 0)
	}
	if len(f.finish) > 0 {
		out[FactFinishReasons] = strings.Join(slices.Sorted(maps.Keys(f.finish)), ",")
	}
	return out
}
