package openai

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gpuperf/gpuperf/inference/backend"
)

// API is the endpoint the backend calls.
type API string

// The endpoints.
const (
	Completions API = "completions" // POST /v1/completions
	Chat        API = "chat"        // POST /v1/chat/completions
)

// Limits.
const (
	maxBodyLog    = 512      // bytes of an error body kept in a sample's error
	maxPromptLine = 64 << 20 // longest JSONL line of a prompts file
	maxEventBytes = 4 << 20  // longest server-sent event line
)

// userAgent is sent with every request.
const userAgent = "gpuperf-openai/1"

// Option names, as given to New.
const (
	OptURL            = "url"
	OptModel          = "model"
	OptAPI            = "api"
	OptMaxTokens      = "max_tokens"
	OptStream         = "stream"
	OptFixedLength    = "fixed_length"
	OptPrompts        = "prompts"
	OptInputTokens    = "input_tokens"
	OptInputStddev    = "input_stddev"
	OptSeed           = "seed"
	OptMaxInflight    = "max_inflight"
	OptConnections    = "connections"
	OptRequestTimeout = "request_timeout"
	OptStallTimeout   = "stall_timeout"
	OptConnectTimeout = "connect_timeout"
	OptAPIKeyEnv      = "api_key_env"
	OptCAFile         = "ca_file"
	OptMetrics        = "metrics"
)

// The values of the metrics option besides a URL.
const (
	MetricsAuto = "auto" // GET /metrics on the server's URL, as vLLM serves it
	MetricsOff  = "off"
)

var knownOptions = []string{
	OptURL, OptModel, OptAPI, OptMaxTokens, OptStream, OptFixedLength, OptPrompts,
	OptInputTokens, OptInputStddev, OptSeed, OptMaxInflight, OptConnections,
	OptRequestTimeout, OptStallTimeout, OptConnectTimeout, OptAPIKeyEnv, OptCAFile, OptMetrics,
}

// Config describes the server, the requests, and how the client behaves.
type Config struct {
	// URL is the server's base URL, http or https, without /v1
	// ("http://127.0.0.1:8000").
	URL   string
	Model string // the served model name requests ask for
	API   API
	// MaxTokens is every request's max_tokens (a prompts-file line may
	// set its own).
	MaxTokens int
	// Stream asks for server-sent events; without it TTFT cannot be seen
	// and equals the whole latency.
	Stream bool
	// FixedLength sends vLLM's ignore_eos and min_tokens = max_tokens, so
	// every response is max_tokens long on both sides of a comparison.
	// Servers that refuse unknown fields (OpenAI itself) need it off.
	FixedLength bool
	// Prompts is a JSONL file, one {"prompt": ...} or {"messages": [...]}
	// per line; empty means synthetic prompts.
	Prompts string
	// InputTokens and InputStddev size synthetic prompts, in words chosen
	// to be one token each in common tokenizers: a normal distribution,
	// drawn per sample index from Seed, so every host sends the same text.
	InputTokens int
	InputStddev float64
	Seed        uint64
	// MaxInflight bounds the requests in flight; more samples wait in the
	// backend's queue, and that wait counts as latency.
	MaxInflight int
	// Connections bounds the TCP connections to the server; 0 means
	// MaxInflight (HTTP/1.1 needs one connection per streaming request).
	Connections int
	// RequestTimeout bounds one request from send to the end of its
	// stream; StallTimeout bounds any silence of a streaming server, the
	// wait for the first byte included (a response that is not streamed
	// is silent until it is done, so only RequestTimeout bounds it). Both
	// end the sample as an error.
	RequestTimeout time.Duration
	StallTimeout   time.Duration
	// ConnectTimeout bounds dialing, the TLS handshake, and the checks
	// Start and Describe make.
	ConnectTimeout time.Duration
	// APIKeyEnv names the environment variable holding the bearer token.
	// The key itself is never an option, so it never reaches a result or
	// a log.
	APIKeyEnv string
	// CAFile is a PEM bundle of the CAs that sign the server's
	// certificate, added to the system pool.
	CAFile string
	// Metrics is where the server's Prometheus metrics are read at the
	// timed run's edges (vLLM's request histograms, see ServerWindow):
	// MetricsAuto for GET /metrics on URL, MetricsOff for none, or a URL.
	// The scrapes carry the API key, as requests do.
	Metrics string
}

// DefaultConfig returns the defaults: the completions API, 128 output
// tokens of fixed length, streamed; 128-word synthetic prompts with seed 0;
// 256 requests in flight; a 10-minute request timeout, a 60 s stall timeout
// and a 10 s connect timeout; metrics from GET /metrics on the server.
func DefaultConfig() Config {
	return Config{
		API: Completions, MaxTokens: 128, Stream: true, FixedLength: true,
		InputTokens: 128, MaxInflight: 256,
		RequestTimeout: 10 * time.Minute, StallTimeout: time.Minute, ConnectTimeout: 10 * time.Second,
		Metrics: MetricsAuto,
	}
}

// ParseConfig reads a Config from options, starting from DefaultConfig, and
// validates it.
func ParseConfig(opts map[string]string) (Config, error) {
	if err := backend.CheckKnown(opts, knownOptions...); err != nil {
		return Config{}, fmt.Errorf("openai: %w", err)
	}
	c := DefaultConfig()
	r := backend.NewReader(opts)
	r.String(OptURL, &c.URL)
	c.URL = strings.TrimRight(c.URL, "/")
	r.String(OptModel, &c.Model)
	api := string(c.API)
	r.String(OptAPI, &api)
	c.API = API(api)
	r.String(OptPrompts, &c.Prompts)
	r.String(OptAPIKeyEnv, &c.APIKeyEnv)
	r.String(OptCAFile, &c.CAFile)
	r.String(OptMetrics, &c.Metrics)
	r.Int(OptMaxTokens, &c.MaxTokens)
	r.Bool(OptStream, &c.Stream)
	r.Bool(OptFixedLength, &c.FixedLength)
	r.Int(OptInputTokens, &c.InputTokens)
	r.Float(OptInputStddev, &c.InputStddev)
	r.Seed(OptSeed, &c.Seed)
	r.Int(OptMaxInflight, &c.MaxInflight)
	r.Int(OptConnections, &c.Connections)
	r.Duration(OptRequestTimeout, &c.RequestTimeout)
	r.Duration(OptStallTimeout, &c.StallTimeout)
	r.Duration(OptConnectTimeout, &c.ConnectTimeout)
	if c.Prompts != "" {
		for _, k := range []string{OptInputTokens, OptInputStddev, OptSeed} {
			if r.Has(k) {
				r.Fail(fmt.Errorf("option %s applies only to synthetic prompts, not with %s", k, OptPrompts))
			}
		}
	}
	if err := r.Err(); err != nil {
		return Config{}, fmt.Errorf("openai: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Options returns the options that shape the requests and the client,
// every one stated, defaults included; the API key is never an option.
func (c Config) Options() map[string]string {
	m := map[string]string{
		OptURL: c.URL, OptModel: c.Model, OptAPI: string(c.API), OptMaxTokens: strconv.Itoa(c.MaxTokens),
		OptStream: strconv.FormatBool(c.Stream), OptFixedLength: strconv.FormatBool(c.FixedLength),
		OptMaxInflight: strconv.Itoa(c.MaxInflight), OptConnections: strconv.Itoa(c.Connections),
		OptRequestTimeout: c.RequestTimeout.String(), OptStallTimeout: c.StallTimeout.String(),
		OptConnectTimeout: c.ConnectTimeout.String(), OptMetrics: c.Metrics,
	}
	if c.Prompts != "" {
		m[OptPrompts] = c.Prompts
	} else {
		m[OptInputTokens] = strconv.Itoa(c.InputTokens)
		m[OptInputStddev] = strconv.FormatFloat(c.InputStddev, 'g', -1, 64)
		m[OptSeed] = strconv.FormatUint(c.Seed, 10)
	}
	return m
}

// Validate reports every problem with c, naming each option.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.URL == "" {
		bad("option %s: missing (the server's base URL, e.g. http://127.0.0.1:8000)", OptURL)
	} else if u, err := url.Parse(c.URL); err != nil {
		bad("option %s=%q: %w", OptURL, c.URL, err)
	} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("option %s=%q: want http://HOST:PORT or https://HOST:PORT", OptURL, c.URL)
	} else if u.User != nil {
		bad("option %s: credentials in the URL are not allowed; use %s", OptURL, OptAPIKeyEnv)
	} else if u.RawQuery != "" || u.Fragment != "" {
		bad("option %s=%q: want a base URL without a query or fragment", OptURL, c.URL)
	} else if strings.HasSuffix(u.Path, "/v1") {
		bad("option %s=%q: give the base URL without /v1", OptURL, c.URL)
	}
	if c.Model == "" {
		bad("option %s: missing (the served model name)", OptModel)
	}
	if c.API != Completions && c.API != Chat {
		bad("option %s=%q: want %s or %s", OptAPI, c.API, Completions, Chat)
	}
	if c.MaxTokens < 1 {
		bad("option %s=%d: want at least 1", OptMaxTokens, c.MaxTokens)
	}
	if c.Prompts == "" {
		if c.InputTokens < 1 {
			bad("option %s=%d: want at least 1", OptInputTokens, c.InputTokens)
		}
		if c.InputStddev < 0 {
			bad("option %s=%g: want 0 or more", OptInputStddev, c.InputStddev)
		}
	}
	if c.MaxInflight < 1 {
		bad("option %s=%d: want at least 1", OptMaxInflight, c.MaxInflight)
	}
	if c.Connections < 0 {
		bad("option %s=%d: want 0 (as many as %s) or more", OptConnections, c.Connections, OptMaxInflight)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{OptRequestTimeout, c.RequestTimeout}, {OptStallTimeout, c.StallTimeout}, {OptConnectTimeout, c.ConnectTimeout}} {
		if d.v <= 0 {
			bad("option %s=%s: want a positive duration", d.key, d.v)
		}
	}
	switch c.Metrics {
	case MetricsAuto, MetricsOff:
	default:
		if u, err := url.Parse(c.Metrics); err != nil {
			bad("option %s=%q: %w", OptMetrics, c.Metrics, err)
		} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("option %s=%q: want %s, %s or a URL (http://HOST:PORT/metrics)", OptMetrics, c.Metrics, MetricsAuto, MetricsOff)
		} else if u.User != nil {
			bad("option %s: credentials in the URL are not allowed; use %s", OptMetrics, OptAPIKeyEnv)
		}
	}
	if c.APIKeyEnv != "" && strings.ContainsAny(c.APIKeyEnv, "= \t") {
		bad("option %s=%q: want the name of an environment variable, not its value", OptAPIKeyEnv, c.APIKeyEnv)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("openai: %w", err)
	}
	return nil
}

// apiKey reads the API key from the environment variable c names.
func (c Config) apiKey() (string, error) {
	if c.APIKeyEnv == "" {
		return "", nil
	}
	k := strings.TrimSpace(os.Getenv(c.APIKeyEnv))
	if k == "" {
		return "", fmt.Errorf("openai: option %s: environment variable %s is empty or not set", OptAPIKeyEnv, c.APIKeyEnv)
	}
	return k, nil
}

// rootCAs returns the system pool plus the CAs of CAFile, or nil (the
// system pool) when there is none.
func (c Config) rootCAs() (*x509.CertPool, error) {
	if c.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("openai: option %s: %w", OptCAFile, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("openai: option %s: %s holds no PEM certificate", OptCAFile, c.CAFile)
	}
	return pool, nil
}

// metricsURL returns where the server's metrics are read, or "" for none.
func (c Config) metricsURL() string {
	switch c.Metrics {
	case MetricsOff:
		return ""
	case MetricsAuto:
		return strings.TrimRight(c.URL, "/") + "/metrics"
	}
	return c.Metrics
}

// endpoint returns the path requests go to.
func (c Config) endpoint() string {
	if c.API == Chat {
		return "/v1/chat/completions"
	}
	return "/v1/completions"
}
