package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/viper"

	"github.com/gpuperf/gpuperf/inference/backend/builtin"
	"github.com/gpuperf/gpuperf/internal/spelling"
	"github.com/gpuperf/gpuperf/internal/yamlcap"
)

// Config is agent.yaml: the backends the agent offers, by name. A
// coordinator chooses among these names; it never sends commands or paths.
type Config struct {
	Backends []BackendConfig `mapstructure:"backends"`
	// GPU configures telemetry and the preflight.
	GPU GPUConfig `mapstructure:"gpu"`
	// MetricsListen serves Prometheus metrics on HOST:PORT (the
	// --metrics-listen flag wins); empty serves none.
	MetricsListen string `mapstructure:"metrics_listen"`
	// Neighbours configures the loads the agent runs as a noisy neighbour.
	Neighbours NeighbourConfig `mapstructure:"neighbours"`
	// Limits bound what one run may use (the --max-run-* flags win).
	Limits Limits `mapstructure:"limits"`
}

// BackendConfig is one offered backend: a name the coordinator asks for, the
// backend kind that serves it, and the options the kind is built with.
type BackendConfig struct {
	Name    string            `mapstructure:"name"`
	Kind    string            `mapstructure:"kind"`
	Options map[string]string `mapstructure:"options"`
}

// DefaultConfig offers the built-in backends null, sim and cpu, each under
// its own name, with no options.
func DefaultConfig() Config {
	var c Config
	for _, k := range builtin.Standalone() {
		c.Backends = append(c.Backends, BackendConfig{Name: k, Kind: k})
	}
	return c
}

// LoadConfig reads an agent configuration (YAML) and validates it. Unknown
// fields are errors; every error names the file and the field.
func LoadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("agent config: %w", err) // it names the file
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, yamlcap.MaxBytes+1))
	if err != nil {
		return Config{}, fmt.Errorf("agent config: %s: %w", path, err)
	}
	return ParseConfig(path, data)
}

// ParseConfig is LoadConfig for a configuration held in memory; name
// labels errors. Size and nesting are checked before the YAML parser sees
// it.
func ParseConfig(name string, data []byte) (Config, error) {
	path := name
	if err := yamlcap.Check(data, yamlcap.MaxBytes, yamlcap.MaxDepth); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	v := viper.New()
	// agent.yaml may be named anything; it is always YAML.
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		if pe := (viper.ConfigParseError{}); errors.As(err, &pe) && pe.Unwrap() != nil {
			err = pe.Unwrap()
		}
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	var c Config
	if err := v.UnmarshalExact(&c); err != nil {
		return Config{}, fmt.Errorf("%s: %s", path, decodeMessage(err))
	}
	if err := c.validate(path + ": "); err != nil {
		return Config{}, err
	}
	return c, nil
}

// invalidKeys matches mapstructure's report of unknown fields.
var invalidKeys = regexp.MustCompile(`^'([^']*)' has invalid keys: (.*)$`)

// decodeMessage rewords mapstructure's decoding error in the terms of the
// file, one problem per line: "backends[0]: unknown field colour".
func decodeMessage(err error) string {
	var lines []string
	for _, l := range strings.Split(err.Error(), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "decoding failed due to") {
			continue
		}
		if m := invalidKeys.FindStringSubmatch(l); m != nil {
			l = "unknown field " + m[2]
			if near := spelling.Nearest(m[2], configFields(m[1])); near != "" && !strings.Contains(m[2], ",") {
				l += "; did you mean " + near + "?"
			}
			if m[1] != "" {
				l = m[1] + ": " + l
			}
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "; ")
}

// configFields lists the field names of agent.yaml's mapping at path
// ("", "backends[0]" or "gpu"), for "did you mean".
func configFields(path string) []string {
	var t reflect.Type
	switch name, _, _ := strings.Cut(path, "["); name {
	case "":
		t = reflect.TypeFor[Config]()
	case "backends":
		t = reflect.TypeFor[BackendConfig]()
	case "gpu":
		t = reflect.TypeFor[GPUConfig]()
	default:
		return nil
	}
	var names []string
	for f := range t.Fields() {
		if tag := f.Tag.Get("mapstructure"); tag != "" && tag != "-" {
			names = append(names, tag)
		}
	}
	return names
}

// Validate reports every problem of c at once, naming each field: names
// empty or given twice, unknown kinds, options a backend does not accept.
func (c Config) Validate() error { return c.validate("") }

// validate is Validate with where (the file, when there is one) leading
// every error, so each line of a joined error stands on its own.
func (c Config) validate(where string) error {
	if len(c.Backends) == 0 {
		return fmt.Errorf("%sbackends: none configured", where)
	}
	var errs []error
	if _, err := c.GPU.interval(); err != nil {
		errs = append(errs, fmt.Errorf("%s%w", where, err))
	}
	if err := c.Neighbours.validate(where); err != nil {
		errs = append(errs, err)
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("%smetrics_listen: %w", where, err))
		}
	}
	_, lerrs := c.Limits.problems(hostMemory)
	for _, err := range lerrs {
		errs = append(errs, fmt.Errorf("%slimits.%w", where, err))
	}
	seen := make(map[string]int, len(c.Backends))
	for i, b := range c.Backends {
		field := fmt.Sprintf("%sbackends[%d]", where, i)
		switch first, dup := seen[b.Name]; {
		case b.Name == "":
			errs = append(errs, fmt.Errorf("%s.name: must not be empty", field))
		case dup:
			errs = append(errs, fmt.Errorf("%s.name: %q is already the name of backends[%d]", field, b.Name, first))
		default:
			seen[b.Name] = i
		}
		if b.Kind == "" {
			errs = append(errs, fmt.Errorf("%s.kind: missing (want %s)", field, strings.Join(builtin.Names(), ", ")))
			continue
		}
		if !slices.Contains(builtin.Names(), b.Kind) {
			errs = append(errs, fmt.Errorf("%s.kind: unknown kind %q (want %s)", field, b.Kind, strings.Join(builtin.Names(), ", ")))
			continue
		}
		// Building the backend is the one authority on its options; the
		// instance is discarded unstarted, so it holds nothing.
		if _, err := builtin.New(b.Kind, b.Options); err != nil {
			errs = append(errs, fmt.Errorf("%s.options: %w", field, err))
		}
	}
	return errors.Join(errs...)
}

// lookup returns the backend configured under name.
func (c Config) lookup(name string) (BackendConfig, bool) {
	i := slices.IndexFunc(c.Backends, func(b BackendConfig) bool { return b.Name == name })
	if i < 0 {
		return BackendConfig{}, false
	}
	return c.Backends[i], true
}

// names lists the configured backend names, in order.
func (c Config) names() []string {
	out := make([]string, len(c.Backends))
	for i, b := range c.Backends {
		out[i] = b.Name
	}
	return out
}
