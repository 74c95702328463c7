package openai

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
)

// request is the body of a completions or chat completions request.
type request struct {
	Model    string    `json:"model"`
	Prompt   *string   `json:"prompt,omitempty"`
	Messages any       `json:"messages,omitempty"`
	MaxToks  int       `json:"max_tokens"`
	Temp     float64   `json:"temperature"` // always sent, always 0
	Stream   bool      `json:"stream"`
	StreamOp *streamOp `json:"stream_options,omitempty"`
	// vLLM's (and SGLang's) sampling extensions that fix the output
	// length: generation goes on past EOS until max_tokens.
	IgnoreEOS bool `json:"ignore_eos,omitempty"`
	MinTokens int  `json:"min_tokens,omitempty"`
}

type streamOp struct {
	IncludeUsage bool `json:"include_usage"`
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// line is one prompt of a prompts file.
type line struct {
	Prompt    *string         `json:"prompt"`
	Messages  json.RawMessage `json:"messages"`
	MaxTokens int             `json:"max_tokens"`
}

// prompts builds request bodies by sample index: from a prompts file
// (index modulo its length) or synthetic text drawn from the index.
type prompts struct {
	cfg   Config
	lines []line
}

func newPrompts(c Config) (*prompts, error) {
	p := &prompts{cfg: c}
	if c.Prompts == "" {
		return p, nil
	}
	lines, err := readPrompts(c.Prompts, c.API)
	if err != nil {
		return nil, fmt.Errorf("openai: option %s: %w", OptPrompts, err)
	}
	p.lines = lines
	return p, nil
}

// readPrompts reads a JSONL prompts file, naming the line of any problem.
func readPrompts(path string, api API) ([]line, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, maxPromptLine)
	var lines []line
	for n := 1; sc.Scan(); n++ {
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		var l line
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		switch {
		case l.Prompt != nil && l.Messages != nil:
			return nil, fmt.Errorf("%s:%d: give prompt or messages, not both", path, n)
		case l.Prompt == nil && l.Messages == nil:
			return nil, fmt.Errorf("%s:%d: want {\"prompt\": TEXT} or {\"messages\": [...]}", path, n)
		case l.Messages != nil && api != Chat:
			return nil, fmt.Errorf("%s:%d: messages need %s=%s", path, n, OptAPI, Chat)
		case l.MaxTokens < 0:
			return nil, fmt.Errorf("%s:%d: max_tokens %d: want at least 1", path, n, l.MaxTokens)
		}
		if l.Messages != nil {
			var msgs []json.RawMessage
			if err := json.Unmarshal(l.Messages, &msgs); err != nil || len(msgs) == 0 {
				return nil, fmt.Errorf("%s:%d: messages: want a non-empty array", path, n)
			}
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s: a line is longer than %d bytes", path, maxPromptLine)
		}
		return nil, err
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%s: no prompts", path)
	}
	return lines, nil
}

// body returns the request body for the sample at index, and the
// max_tokens it asks for.
func (p *prompts) body(index uint32) ([]byte, int, error) {
	c := &p.cfg
	r := request{Model: c.Model, MaxToks: c.MaxTokens, Stream: c.Stream}
	if c.Stream {
		r.StreamOp = &streamOp{IncludeUsage: true}
	}
	var text string
	if p.lines != nil {
		l := &p.lines[int(index)%len(p.lines)]
		if l.MaxTokens > 0 {
			r.MaxToks = l.MaxTokens
		}
		switch {
		case l.Messages != nil:
			r.Messages = l.Messages
		default:
			text = *l.Prompt
		}
	} else {
		text = synthetic(c.Seed, index, c.InputTokens, c.InputStddev)
	}
	if r.Messages == nil {
		if c.API == Chat {
			r.Messages = []message{{Role: "user", Content: text}}
		} else {
			r.Prompt = &text
		}
	}
	if c.FixedLength {
		r.IgnoreEOS, r.MinTokens = true, r.MaxToks
	}
	b, err := json.Marshal(&r)
	return b, r.MaxToks, err
}

// vocabulary holds common English words that are one token each, with a
// leading space, in the Llama, Mistral and GPT tokenizers, so a synthetic
// prompt of n words is close to n tokens.
var vocabulary = strings.Fields(`the of and to in is was for on as with by he at from his an were are which
this be or had not but first one their also its new after who they has her
she been two when there all during into school time may more most only over
city some world would where later up such used many can state about national
out known university united then made year part other through under high
team both three film well them war since these than while called could music
group major early best being four game area between public each so series
season before did several church house began name make long same back end
around left life home like still very just good day people water way work
place line right old great small big light land word number open hand kind
help need play move live point read turn ask show try call came went found
give tell set`)

// synthetic returns sample index's prompt: a length drawn from a normal
// distribution with the given mean and standard deviation (at least one
// word), then that many words, all from a PCG seeded by (seed, index).
func synthetic(seed uint64, index uint32, mean int, stddev float64) string {
	rng := rand.New(rand.NewPCG(seed, uint64(index)))
	n := mean
	if stddev > 0 {
		n = int(math.Round(float64(mean) + stddev*rng.NormFloat64()))
		n = max(n, 1)
	}
	var b strings.Builder
	b.Grow(n * 6)
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(vocabulary[rng.IntN(len(vocabulary))])
	}
	return b.String()
}
