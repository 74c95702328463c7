package kserve

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gpuperf/gpuperf/inference/backend"
)

// Option names, as given to New.
const (
	OptEndpoint     = "endpoint"
	OptModel        = "model"
	OptModelVersion = "model_version"
	OptInputs       = "inputs"
	OptSeed         = "seed"
	OptSamples      = "samples"
	OptBatch        = "batch"
	OptShape        = "shape"
	OptConnections  = "connections"
	OptMaxInflight  = "max_inflight"
	OptStream       = "stream"
	OptTLS          = "tls"
	OptCA           = "ca"
	OptCert         = "cert"
	OptKey          = "key"
	OptServerName   = "server_name"
	OptTimeout      = "timeout"
)

var knownOptions = []string{
	OptEndpoint, OptModel, OptModelVersion, OptInputs, OptSeed, OptSamples, OptBatch, OptShape,
	OptConnections, OptMaxInflight, OptStream, OptTLS, OptCA, OptCert, OptKey, OptServerName, OptTimeout,
}

// Input sources.
const (
	InputsRandom = "random"
	InputsZeros  = "zeros"
)

// Bounds that keep a typo from asking for more than a host has.
const (
	maxBatch       = 1 << 16
	maxInflight    = 1 << 16
	maxConnections = 1024
	maxSamples     = 1 << 16
)

// Config is the backend's configuration.
type Config struct {
	// Endpoint is the server's gRPC address, HOST:PORT.
	Endpoint string
	// Model and ModelVersion name the model; an empty version lets the
	// server choose.
	Model        string
	ModelVersion string
	// Inputs is InputsRandom, InputsZeros, or the files the input data
	// comes from.
	Inputs string
	// Files are the parsed entries of a file Inputs: one path for every
	// input (JSON, or a model with one input), or one per input name.
	Files []FileEntry
	// Seed seeds random inputs: the same seed sends the same bytes.
	Seed uint64
	// Samples is the number of distinct random samples generated; sample
	// i of the data set sends generated sample i mod Samples.
	Samples int
	// Batch is the most samples one request carries.
	Batch int
	// Shapes gives, per input name ("" for the only input), the dimensions
	// of one sample, replacing the model's variable (-1) dimensions.
	Shapes map[string][]int64
	// Connections is the number of gRPC connections requests are spread
	// over; MaxInflight bounds the requests in flight over all of them.
	Connections int
	MaxInflight int
	// Stream sends requests over ModelStreamInfer, one stream per
	// connection, instead of unary ModelInfer calls.
	Stream bool
	// TLS is nil for plaintext.
	TLS *tls.Config
	// Timeout bounds the readiness checks at Start, and each request.
	Timeout time.Duration
}

// FileEntry is one input file; Input is empty when the file is not
// assigned to a named input.
type FileEntry struct {
	Input string
	Path  string
}

// DefaultConfig returns the defaults: endpoint localhost:8001 (Triton's gRPC
// port), random inputs from seed 1 with 16 distinct samples, batch 1, one
// connection, 64 requests in flight, unary calls, plaintext, timeout 30s.
// Model has no default.
func DefaultConfig() Config {
	return Config{
		Endpoint: "localhost:8001", Inputs: InputsRandom, Seed: 1, Samples: 16, Batch: 1,
		Connections: 1, MaxInflight: 64, Timeout: 30 * time.Second,
	}
}

// ParseConfig reads a Config from options, starting from DefaultConfig, and
// validates it. TLS files are read here, so a bad path fails at once.
func ParseConfig(opts map[string]string) (Config, error) {
	if err := backend.CheckKnown(opts, knownOptions...); err != nil {
		return Config{}, fmt.Errorf("kserve: %w", err)
	}
	c := DefaultConfig()
	r := backend.NewReader(opts)
	r.String(OptEndpoint, &c.Endpoint)
	r.String(OptModel, &c.Model)
	r.String(OptModelVersion, &c.ModelVersion)
	r.String(OptInputs, &c.Inputs)
	r.Int(OptSamples, &c.Samples)
	r.Int(OptBatch, &c.Batch)
	r.Int(OptConnections, &c.Connections)
	r.Int(OptMaxInflight, &c.MaxInflight)
	r.Seed(OptSeed, &c.Seed)
	r.Duration(OptTimeout, &c.Timeout)
	r.Bool(OptStream, &c.Stream)
	var err error
	if v, ok := opts[OptShape]; ok {
		c.Shapes, err = parseShapes(v)
		r.Fail(err)
	}
	if c.Inputs != InputsRandom && c.Inputs != InputsZeros {
		c.Files, err = parseFiles(c.Inputs)
		r.Fail(err)
	}
	c.TLS, err = tlsConfig(opts)
	r.Fail(err)
	if err := r.Err(); err != nil {
		return Config{}, fmt.Errorf("kserve: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Options returns the options that shape what is sent and how, every one
// stated, defaults included; the certificates' contents are not options.
func (c Config) Options() map[string]string {
	m := map[string]string{
		OptEndpoint: c.Endpoint, OptModel: c.Model, OptModelVersion: c.ModelVersion, OptInputs: c.Inputs,
		OptSeed: strconv.FormatUint(c.Seed, 10), OptSamples: strconv.Itoa(c.Samples), OptBatch: strconv.Itoa(c.Batch),
		OptConnections: strconv.Itoa(c.Connections), OptMaxInflight: strconv.Itoa(c.MaxInflight),
		OptStream: strconv.FormatBool(c.Stream), OptTLS: strconv.FormatBool(c.TLS != nil), OptTimeout: c.Timeout.String(),
	}
	if len(c.Shapes) > 0 {
		var parts []string
		for _, name := range slices.Sorted(maps.Keys(c.Shapes)) {
			var dims []string
			for _, d := range c.Shapes[name] {
				dims = append(dims, strconv.FormatInt(d, 10))
			}
			e := strings.Join(dims, "x")
			if name != "" {
				e = name + ":" + e
			}
			parts = append(parts, e)
		}
		m[OptShape] = strings.Join(parts, ",")
	}
	return m
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if _, port, err := net.SplitHostPort(c.Endpoint); err != nil || port == "" {
		errs = append(errs, fmt.Errorf("%s=%q: want HOST:PORT", OptEndpoint, c.Endpoint))
	}
	if c.Model == "" {
		errs = append(errs, fmt.Errorf("%s: missing; name the served model, e.g. %s=resnet50", OptModel, OptModel))
	}
	for _, f := range []struct {
		key    string
		v, max int
	}{
		{OptBatch, c.Batch, maxBatch}, {OptConnections, c.Connections, maxConnections},
		{OptMaxInflight, c.MaxInflight, maxInflight}, {OptSamples, c.Samples, maxSamples},
	} {
		if f.v < 1 || f.v > f.max {
			errs = append(errs, fmt.Errorf("%s=%d: want 1 to %d", f.key, f.v, f.max))
		}
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("%s=%v: want a positive duration", OptTimeout, c.Timeout))
	}
	for _, f := range c.Files {
		if _, err := os.Stat(f.Path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", OptInputs, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kserve: %w", err)
	}
	return nil
}

// parseShapes reads "3x224x224" (the model's only input) or
// "NAME:3x224x224,NAME2:128".
func parseShapes(v string) (map[string][]int64, error) {
	out := make(map[string][]int64)
	for _, e := range strings.Split(v, ",") {
		name, dims, ok := strings.Cut(e, ":")
		if !ok {
			name, dims = "", e
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("option %s=%q: input %q given twice", OptShape, v, name)
		}
		d, err := parseDims(dims)
		if err != nil {
			return nil, fmt.Errorf("option %s=%q: %w", OptShape, v, err)
		}
		out[name] = d
	}
	if _, ok := out[""]; ok && len(out) > 1 {
		return nil, fmt.Errorf("option %s=%q: name every input when there are several (NAME:3x224x224,...)", OptShape, v)
	}
	return out, nil
}

// parseFiles reads "PATH" or "NAME:PATH,NAME2:PATH2". Whether a prefix
// before ':' is an input name is known only from the model's metadata, so
// an entry keeps both readings: Start resolves it (see assignFiles).
func parseFiles(v string) ([]FileEntry, error) {
	var out []FileEntry
	for _, e := range strings.Split(v, ",") {
		if e == "" {
			return nil, fmt.Errorf("option %s=%q: empty entry", OptInputs, v)
		}
		name, path, ok := strings.Cut(e, ":")
		if ok && name != "" && path != "" {
			if _, err := os.Stat(e); err != nil {
				// NAME:PATH, unless the whole entry is a file.
				out = append(out, FileEntry{Input: name, Path: path})
				continue
			}
		}
		out = append(out, FileEntry{Path: e})
	}
	if len(out) > 1 {
		for _, f := range out {
			if f.Input == "" {
				return nil, fmt.Errorf("option %s=%q: with several files, name each one's input (NAME:PATH,...)", OptInputs, v)
			}
		}
	}
	return out, nil
}

// tlsConfig builds the client's TLS configuration from tls, ca, cert, key
// and server_name; any of the last four turns TLS on unless tls=false.
func tlsConfig(opts map[string]string) (*tls.Config, error) {
	on := false
	r := backend.NewReader(opts)
	r.Bool(OptTLS, &on)
	if err := r.Err(); err != nil {
		return nil, err
	}
	var given []string
	for _, k := range []string{OptCA, OptCert, OptKey, OptServerName} {
		if opts[k] != "" {
			given = append(given, k)
		}
	}
	if len(given) > 0 {
		if _, explicit := opts[OptTLS]; explicit && !on {
			return nil, fmt.Errorf("option %s=false contradicts %s", OptTLS, strings.Join(given, ", "))
		}
		on = true
	}
	if !on {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: opts[OptServerName]}
	if ca := opts[OptCA]; ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("option %s: %w", OptCA, err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("option %s=%q: no PEM certificate in the file", OptCA, ca)
		}
	}
	cert, key := opts[OptCert], opts[OptKey]
	switch {
	case cert != "" && key != "":
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("options %s and %s: %w", OptCert, OptKey, err)
		}
		c.Certificates = []tls.Certificate{kp}
	case cert != "" || key != "":
		return nil, fmt.Errorf("options %s and %s: give both or neither", OptCert, OptKey)
	}
	return c, nil
}
