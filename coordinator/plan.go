package coordinator

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/internal/spelling"
	"github.com/gpuperf/gpuperf/internal/yamlcap"
	"github.com/gpuperf/gpuperf/results"
)

// Plan is a plan file: which agents to compare, on what workload, in which
// scenarios, how often and in what order, and what counts as a regression.
// LoadPlan and ParsePlan fill it and apply defaults; Validate checks it.
type Plan struct {
	Version     string      `mapstructure:"version"` // must be "v1"
	Agents      []AgentSpec `mapstructure:"agents"`
	Workload    Workload    `mapstructure:"workload"`
	Scenarios   []string    `mapstructure:"scenarios"`   // see ScenarioList
	Profile     string      `mapstructure:"profile"`     // quick, standard or mlperf
	Repetitions int         `mapstructure:"repetitions"` // timed runs per agent and scenario
	// Order is interleaved (ABBA pairs; the default), sequential or
	// parallel; sequential is the default with a stored Baseline.
	Order      string     `mapstructure:"order"`
	Retries    int        `mapstructure:"retries"` // extra tries of a failed run
	Thresholds Thresholds `mapstructure:"thresholds"`
	Output     string     `mapstructure:"output"` // result folder, relative to the working directory
	// Baseline is a stored result tree that stands in for live baseline
	// agents.
	Baseline string `mapstructure:"baseline"`
	// Neighbours says what else ran on the candidate hosts; it is recorded
	// with the candidate's results.
	Neighbours string     `mapstructure:"neighbours"`
	Server     ServerSpec `mapstructure:"server"`
	// Discovery is set when agents is a mapping that names the sides by
	// what the hosts are; ResolveDiscovery then fills Agents.
	Discovery *Discovery `mapstructure:"-"`

	// Seeds is "vary" (repetition k runs seed set k on both sides: the
	// LoadGen seeds and the backends' own change together, so the
	// interval covers schedule-to-schedule variation) or "fixed" (every
	// run the configured seeds: a repeatability interval). Empty is vary,
	// except under the mlperf profile, which keeps MLPerf's official seeds.
	Seeds string `mapstructure:"seeds"`
	// RepetitionsAuto is set by repetitions: auto: ABBA pairs are added,
	// a block at a time, until the equivalence verdict is decided or
	// MaxRepetitions pairs ran (a group-sequential design, see
	// results.SequentialRecord); Repetitions is then the first look's.
	RepetitionsAuto bool `mapstructure:"-"`
	MaxRepetitions  int  `mapstructure:"max_repetitions"`
	// Interference lists neighbour loads: each side is measured quiet and
	// under each, its agent's neighbour running the load (see
	// InterferenceSpec).
	Interference []InterferenceSpec `mapstructure:"interference"`
	// Watchdog is how long an agent may say nothing during a run before
	// the run is failed (a Go duration; see DefaultWatchdog).
	Watchdog string `mapstructure:"watchdog"`

	// source names the plan in every error and warning.
	source string `mapstructure:"-"`
	// overridden holds the keys the environment or flags set, so a problem
	// with one of them does not send the user looking in the file.
	overridden map[string]bool `mapstructure:"-"`
}

// AgentSpec is one agent a plan measures.
type AgentSpec struct {
	Name string `mapstructure:"name"`
	// Address is host:port, or AddressEmbedded.
	Address string `mapstructure:"address"`
	Role    string `mapstructure:"role"` // RoleBaseline or RoleCandidate
	// Host names the physical machine the agent runs on; it defaults to the
	// address's host part (loopback and embedded agents become "localhost").
	// Set it when two addresses share a machine, such as VMs on one
	// hypervisor, so that order: parallel can be refused for them.
	Host      string   `mapstructure:"host"`
	TokenFile string   `mapstructure:"token_file"`
	TLS       *TLSSpec `mapstructure:"tls"`
	// Insecure allows plaintext to a non-loopback address.
	Insecure bool `mapstructure:"insecure"`
	// Neighbours overrides the plan's neighbours for this candidate.
	Neighbours string `mapstructure:"neighbours"`
	// Hypervisor is a gpuperf agent on the vGPU hypervisor host beneath
	// this candidate: during each of the candidate's timed runs it records
	// every vGPU's share of the physical GPU and the scheduler's state.
	Hypervisor *HypervisorSpec `mapstructure:"hypervisor"`
	// NeighbourAgent is the agent on a co-tenant of this one that runs
	// the plan's interference loads during this agent's timed runs.
	NeighbourAgent *NeighbourSpec `mapstructure:"neighbour_agent"`
}

// HypervisorSpec is how to reach the agent on a candidate's hypervisor
// host; the fields mean what they mean for an agent.
type HypervisorSpec struct {
	Address   string   `mapstructure:"address"`
	TokenFile string   `mapstructure:"token_file"`
	TLS       *TLSSpec `mapstructure:"tls"`
	Insecure  bool     `mapstructure:"insecure"`
}

// Spec returns the hypervisor agent as an AgentSpec of candidate a, for
// dialling.
func (h *HypervisorSpec) Spec(a AgentSpec) AgentSpec {
	return AgentSpec{Name: a.Name + "-hypervisor", Address: h.Address, Role: "hypervisor", TokenFile: h.TokenFile, TLS: h.TLS, Insecure: h.Insecure}
}

// TLSSpec configures TLS to an agent. Cert and Key, given together, are the
// client certificate for mutual TLS. Paths are resolved against the plan
// file's folder.
type TLSSpec struct {
	CA         string `mapstructure:"ca"`
	Cert       string `mapstructure:"cert"`
	Key        string `mapstructure:"key"`
	ServerName string `mapstructure:"server_name"`
}

// Workload is what every agent runs: a backend the agents offer by name, a
// model key of mlperf.conf and overrides of its test settings.
type Workload struct {
	Backend string `mapstructure:"backend"`
	Model   string `mapstructure:"model"`
	// Settings override inference.TestSettings fields by their JSON names,
	// e.g. min_duration_ms: 2000. See ApplySettings.
	Settings map[string]any `mapstructure:"settings"`
}

// Thresholds decide the verdict.
type Thresholds struct {
	// MinRetainedPct is the retained performance below which a candidate
	// has regressed.
	MinRetainedPct float64 `mapstructure:"min_retained_pct"`
	// EquivalenceMarginPct is how far from 100% retained still counts as
	// equivalent.
	EquivalenceMarginPct float64 `mapstructure:"equivalence_margin_pct"`
}

// ServerSpec sets how the Server scenario is loaded: at a fixed QPS or by
// peak search.
type ServerSpec struct {
	// TargetQPS is the fixed QPS; 0 uses OfflineFraction of the Offline
	// throughput calibrated on the baseline. With FindPeak it is where the
	// search starts.
	TargetQPS       float64 `mapstructure:"target_qps"`
	OfflineFraction float64 `mapstructure:"offline_fraction"`
	FindPeak        bool    `mapstructure:"find_peak"`
	// PeakPrecision is the peak search's stopping width in QPS; 0 uses
	// LoadGen's server_find_peak_qps_decimals_of_precision rule.
	PeakPrecision float64 `mapstructure:"peak_precision"`
	// PeakBudgetS bounds each peak search's wall time in seconds, probes
	// and confirmation together; 0 derives it from the profile's
	// min_duration. PeakMinQPS is the lowest QPS a search probes; 0 is
	// 1/64 of where it starts.
	PeakBudgetS float64 `mapstructure:"peak_budget_s"`
	PeakMinQPS  float64 `mapstructure:"peak_min_qps"`
}

// The values a plan's fields take.
const (
	PlanVersion = "v1"

	RoleBaseline  = "baseline"
	RoleCandidate = "candidate"

	OrderInterleaved = "interleaved"
	OrderSequential  = "sequential"
	OrderParallel    = "parallel"

	NeighboursIdle    = "idle"
	NeighboursLoaded  = "loaded"
	NeighboursUnknown = "unknown"

	// AddressEmbedded marks an agent that gpuperf compare starts in-process
	// on an ephemeral loopback port; the caller substitutes the real address
	// before dialling.
	AddressEmbedded = "embedded"
)

// planDefaults are the values a plan file may leave out. They are viper
// defaults, below the file, so an explicit zero in the file stays zero and
// is judged by Validate.
func planDefaults() map[string]any {
	return map[string]any{
		"profile":                           string(inference.ProfileQuick),
		"repetitions":                       4,
		"retries":                           1,
		"output":                            "./gpuperf-results",
		"neighbours":                        NeighboursUnknown,
		"workload.model":                    "resnet50",
		"thresholds.min_retained_pct":       95.0,
		"thresholds.equivalence_margin_pct": 3.0,
		"server.offline_fraction":           0.5,
		"max_repetitions":                   20,
		"watchdog":                          DefaultWatchdog.String(),
	}
}

// overridableKeys are the top-level scalars that GPUPERF_<KEY> and a flag of
// the same name override. Lists and mappings stay in the file, where they
// can be read as a whole.
var overridableKeys = []string{"profile", "repetitions", "order", "output", "baseline", "neighbours", "retries"}

// LoadPlan reads the plan file at path. Values come from, in rising
// precedence: defaults, the file, then the environment (GPUPERF_<KEY>) and
// flags as bound to v, for the top-level scalars profile, repetitions,
// order, output, baseline, neighbours and retries. v is the calling
// command's viper, bound to its flags and to the GPUPERF environment prefix;
// nil reads the file alone. Only flags the user set count, never a flag's
// default.
//
// LoadPlan reports what stops the file from decoding: YAML syntax, unknown
// fields, values of the wrong type. The caller then runs Validate. Paths in
// the file (token_file, tls, baseline) are resolved against the file's
// folder; a baseline from the environment or a flag against the working
// directory.
func LoadPlan(path string, v *viper.Viper) (*Plan, error) {
	data, err := readPlanFile(path)
	if err != nil {
		return nil, err
	}
	return parsePlan(path, filepath.Dir(path), data, v)
}

// ParsePlan is LoadPlan for a plan held in memory, such as the embedded
// default, without environment or flags. name labels errors; relative paths
// resolve against name's folder.
func ParsePlan(name string, data []byte) (*Plan, error) {
	return parsePlan(name, filepath.Dir(name), data, nil)
}

func parsePlan(name, dir string, data []byte, v *viper.Viper) (*Plan, error) {
	// Size and nesting are checked before the YAML parser sees the file.
	if err := yamlcap.Check(data, yamlcap.MaxBytes, yamlcap.MaxDepth); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	fv := viper.New()
	fv.SetConfigType("yaml")
	for k, val := range planDefaults() {
		fv.SetDefault(k, val)
	}
	if err := fv.ReadConfig(bytes.NewReader(data)); err != nil {
		// Drop viper's "While parsing config:" so the YAML error reads
		// straight after the file name.
		if pe := (viper.ConfigParseError{}); errors.As(err, &pe) && pe.Unwrap() != nil {
			err = pe.Unwrap()
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	overridden := map[string]bool{}
	if v != nil {
		var err error
		if overridden, err = applyOverrides(name, fv, v); err != nil {
			return nil, err
		}
	}
	auto := false
	if s, ok := fv.Get("repetitions").(string); ok && strings.EqualFold(strings.TrimSpace(s), "auto") {
		// The first look runs the fewest pairs ever recommended.
		auto = true
		fv.Set("repetitions", results.MinPairs)
	}
	p, err := decodePlan(name, fv)
	if err != nil {
		return nil, err
	}
	p.RepetitionsAuto = auto
	p.overridden = overridden
	p.nameLoads()
	if p.Order == "" {
		// ABBA pairs need live baseline runs to alternate with.
		p.Order = OrderInterleaved
		if p.Baseline != "" {
			p.Order = OrderSequential
		}
	}
	p.resolvePaths(dir, func(key string) bool { return !overridden[key] })
	if p.Discovery != nil {
		p.Discovery.resolvePaths(dir)
	}
	return p, nil
}

// applyOverrides copies the overridable keys that v holds from the
// environment or a set flag into fv, above the file. Environment values
// arrive as text; each is converted to the field's type here, since the
// decoder is strict.
func applyOverrides(name string, fv, v *viper.Viper) (map[string]bool, error) {
	overridden := make(map[string]bool)
	var errs []error
	for _, key := range overridableKeys {
		// IsSet ignores a flag's default, so an untouched flag never beats
		// the file.
		if !v.IsSet(key) {
			continue
		}
		raw := v.Get(key)
		val, err := convertOverride(key, raw)
		if err != nil {
			errs = append(errs, &FieldError{File: name, Field: key, Problem: err.Error() + " " + overrideSource(key)})
			continue
		}
		fv.Set(key, val)
		overridden[key] = true
	}
	return overridden, errors.Join(errs...)
}

// convertOverride turns an environment or flag value into the type of the
// plan field named key.
func convertOverride(key string, raw any) (any, error) {
	f, ok := fieldByTag(reflect.TypeFor[Plan](), key)
	if !ok {
		return nil, fmt.Errorf("not a plan field")
	}
	switch f.Type.Kind() {
	case reflect.Int:
		switch x := raw.(type) {
		case int:
			return x, nil
		case string:
			if key == "repetitions" && strings.EqualFold(strings.TrimSpace(x), "auto") {
				return "auto", nil
			}
			n, err := strconv.Atoi(strings.TrimSpace(x))
			if err != nil {
				return nil, fmt.Errorf("want an integer, got %q", x)
			}
			return n, nil
		}
	case reflect.String:
		if s, ok := raw.(string); ok {
			return s, nil
		}
	}
	return nil, fmt.Errorf("want %s, got %s", describeType(f.Type), describeValue(raw))
}

func overrideSource(key string) string {
	return fmt.Sprintf("(set by GPUPERF_%s or --%s)", strings.ToUpper(key), key)
}

// decodePlan decodes strictly: unknown fields, values of the wrong type and
// fractional numbers for integers are errors, never silently dropped or
// converted.
func decodePlan(name string, fv *viper.Viper) (*Plan, error) {
	p := &Plan{source: name}
	var disc *Discovery
	strict := func(c *mapstructure.DecoderConfig) {
		c.WeaklyTypedInput = false
		c.DecodeHook = mapstructure.ComposeDecodeHookFunc(discoveryHook(&disc), wholeNumbers)
	}
	if err := fv.UnmarshalExact(p, strict); err != nil {
		return nil, decodeError(name, err)
	}
	p.Discovery = disc
	return p, nil
}

// wholeNumbers refuses a fractional number for an integer field, which
// mapstructure would truncate.
func wholeNumbers(from, to reflect.Value) (any, error) {
	switch to.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if from.Kind() == reflect.Float32 || from.Kind() == reflect.Float64 {
			if f := from.Float(); f != math.Trunc(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("want an integer, got %v", f)
			}
		}
	}
	return from.Interface(), nil
}

// resolvePaths makes the file's relative paths relative to the plan's
// folder, so a plan works from any working directory.
func (p *Plan) resolvePaths(dir string, fromFile func(key string) bool) {
	resolve := func(path string) string {
		if path == "" || filepath.IsAbs(path) {
			return path
		}
		return filepath.Join(dir, path)
	}
	if fromFile("baseline") && !IsStoreReference(p.Baseline) {
		p.Baseline = resolve(p.Baseline)
	}
	for i := range p.Agents {
		a := &p.Agents[i]
		a.TokenFile = resolve(a.TokenFile)
		if a.TLS != nil {
			a.TLS.CA = resolve(a.TLS.CA)
			a.TLS.Cert = resolve(a.TLS.Cert)
			a.TLS.Key = resolve(a.TLS.Key)
		}
		if a.Host == "" {
			a.Host = defaultHost(a.Address)
		}
		if h := a.Hypervisor; h != nil {
			h.TokenFile = resolve(h.TokenFile)
			if h.TLS != nil {
				h.TLS.CA = resolve(h.TLS.CA)
				h.TLS.Cert = resolve(h.TLS.Cert)
				h.TLS.Key = resolve(h.TLS.Key)
			}
		}
		if n := a.NeighbourAgent; n != nil {
			n.resolve(resolve)
		}
	}
	for _, l := range p.Interference {
		if l.Peer != nil {
			l.Peer.resolve(resolve)
		}
	}
}

// defaultHost is the machine an address names: its host part, with every
// spelling of loopback, and embedded agents, as "localhost".
func defaultHost(address string) string {
	if address == AddressEmbedded {
		return "localhost"
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return ""
	}
	if isLoopback(host) {
		return "localhost"
	}
	return strings.ToLower(host)
}

// isLoopback reports whether host names the loopback interface, without a
// DNS lookup.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// FieldError is one problem with a plan: the file, the field's path in it
// (such as agents[1].role) and what is wrong.
type FieldError struct {
	File    string
	Field   string
	Problem string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	for _, s := range []string{e.File, e.Field} {
		if s != "" {
			b.WriteString(s)
			b.WriteString(": ")
		}
	}
	b.WriteString(e.Problem)
	return b.String()
}

// decodeError rewrites mapstructure's report as one FieldError per problem,
// in the file's terms: "plan.yaml: agents[0].colour: unknown field".
func decodeError(name string, err error) error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		if de, ok := e.(*mapstructure.DecodeError); ok {
			inner := de.Unwrap()
			var nested *mapstructure.DecodeError
			if errors.As(inner, &nested) {
				walk(inner)
				return
			}
			out = append(out, decodeProblems(name, de.Name(), inner)...)
			return
		}
		if u, ok := e.(interface{ Unwrap() []error }); ok {
			for _, c := range u.Unwrap() {
				walk(c)
			}
			return
		}
		if u := errors.Unwrap(e); u != nil {
			walk(u)
			return
		}
		out = append(out, &FieldError{File: name, Problem: e.Error()})
	}
	walk(err)
	return errors.Join(out...)
}

// decodeProblems words one mapstructure problem at field.
func decodeProblems(name, field string, err error) []error {
	const invalid = "has invalid keys: "
	if msg := err.Error(); strings.HasPrefix(msg, invalid) {
		var out []error
		known := knownFields(field)
		for _, k := range strings.Split(strings.TrimPrefix(msg, invalid), ", ") {
			problem := "unknown field"
			if len(known) > 0 {
				if near := spelling.Nearest(k, known); near != "" {
					problem += "; did you mean " + near + "?"
				}
				problem += " (known: " + strings.Join(known, ", ") + ")"
			}
			out = append(out, &FieldError{File: name, Field: joinField(field, k), Problem: problem})
		}
		return out
	}
	var ute *mapstructure.UnconvertibleTypeError
	if errors.As(err, &ute) {
		return []error{&FieldError{File: name, Field: field,
			Problem: fmt.Sprintf("want %s, got %s", describeType(ute.Expected.Type()), describeValue(ute.Value))}}
	}
	problem := err.Error()
	if m := shapeMismatch.FindStringSubmatch(problem); m != nil {
		want := "a list"
		if m[1] == "a map or struct" {
			want = "a mapping"
		}
		problem = fmt.Sprintf("want %s, got %s", want, describeKind(m[2]))
	}
	return []error{&FieldError{File: name, Field: field, Problem: problem}}
}

// shapeMismatch matches mapstructure's report of a scalar where a list or a
// mapping belongs (it gives the kind, not the value).
var shapeMismatch = regexp.MustCompile(`^(?:source data must be |expected )(an array or slice|a map or struct), got "?(\w+)"?$`)

// describeKind names a reflect.Kind's spelling the way a YAML author thinks
// of it.
func describeKind(kind string) string {
	switch {
	case kind == "string":
		return "text"
	case kind == "bool":
		return "true or false"
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"), strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "slice", kind == "array":
		return "a list"
	case kind == "map", kind == "struct":
		return "a mapping"
	}
	return kind
}

func joinField(parent, child string) string {
	if parent == "" {
		return child
	}
	return parent + "." + child
}

// knownFields lists the field names of the mapping at path (such as
// "agents[0].tls"), for the hint after an unknown field.
func knownFields(path string) []string {
	t := reflect.TypeFor[Plan]()
	if path == "agents" || strings.HasPrefix(path, "agents.") {
		// agents as a mapping is the discovery form.
		t = reflect.TypeFor[struct {
			Agents Discovery `mapstructure:"agents"`
		}]()
	}
	for part := range strings.SplitSeq(path, ".") {
		if part == "" {
			continue
		}
		name, _, _ := strings.Cut(part, "[")
		f, ok := fieldByTag(t, name)
		if !ok {
			return nil
		}
		t = f.Type
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for f := range t.Fields() {
		if tag := f.Tag.Get("mapstructure"); f.IsExported() && tag != "" && tag != "-" {
			names = append(names, tag)
		}
	}
	return names
}

// fieldByTag finds the field of struct t whose mapstructure tag is name.
func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	for f := range t.Fields() {
		if f.Tag.Get("mapstructure") == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// describeType names a Go type the way a YAML author thinks of it.
func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "a mapping"
	}
	return t.String()
}

// describeValue shows a decoded YAML value with its kind.
func describeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		return strconv.Quote(x)
	case bool:
		return fmt.Sprintf("%t", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%v", v)
}

// Baselines returns the agents with role baseline, in plan order.
func (p *Plan) Baselines() []AgentSpec { return p.withRole(RoleBaseline) }

// Candidates returns the agents with role candidate, in plan order.
func (p *Plan) Candidates() []AgentSpec { return p.withRole(RoleCandidate) }

func (p *Plan) withRole(role string) []AgentSpec {
	var out []AgentSpec
	for _, a := range p.Agents {
		if a.Role == role {
			out = append(out, a)
		}
	}
	return out
}

// ScenarioList returns the plan's scenarios parsed, in plan order, leaving
// out any Validate refuses.
func (p *Plan) ScenarioList() []inference.Scenario {
	var out []inference.Scenario
	for _, s := range p.Scenarios {
		if sc, err := inference.ParseScenario(s); err == nil && !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// SeedsMode is how the plan's repetitions draw their seeds: results.SeedsVary
// or results.SeedsFixed (the mlperf profile's default).
func (p *Plan) SeedsMode() string {
	switch {
	case p.Seeds != "":
		return p.Seeds
	case p.Profile == string(inference.ProfileMLPerf):
		return results.SeedsFixed
	}
	return results.SeedsVary
}

// Embedded reports whether gpuperf starts this agent in-process.
func (a AgentSpec) Embedded() bool { return a.Address == AddressEmbedded }

// NeighboursOf returns what ran beside agent a: its own setting, else the
// plan's.
func (p *Plan) NeighboursOf(a AgentSpec) string {
	if a.Neighbours != "" {
		return a.Neighbours
	}
	return p.Neighbours
}

// Validate reports every problem with the plan at once, joined, each a
// *FieldError naming the file and the field. It also checks that the files
// the plan names (token files, TLS material, a stored baseline) exist.
func (p *Plan) Validate() error {
	c := checker{file: p.source, overridden: p.overridden}
	if c.file == "" {
		c.file = "plan"
	}
	if p.Version != PlanVersion {
		c.add("version", "must be %q, got %q", PlanVersion, p.Version)
	}
	p.checkAgentsOrDiscovery(&c)
	p.checkWorkload(&c)
	p.checkInterference(&c)

	if len(p.Scenarios) == 0 {
		c.add("scenarios", "at least one is needed (offline, server, single-stream, multi-stream)")
	}
	seen := make(map[inference.Scenario]int)
	for i, s := range p.Scenarios {
		field := fmt.Sprintf("scenarios[%d]", i)
		sc, err := inference.ParseScenario(s)
		if err != nil {
			c.add(field, "%v", err)
			continue
		}
		if first, dup := seen[sc]; dup {
			c.add(field, "%s is already scenarios[%d]", sc.Flag(), first)
			continue
		}
		seen[sc] = i
	}

	if _, err := inference.ParseProfile(p.Profile); err != nil {
		c.add("profile", "%v", err)
	}
	switch p.Order {
	case OrderInterleaved, OrderSequential, OrderParallel:
	default:
		c.add("order", "must be interleaved, sequential or parallel, got %q", p.Order)
	}
	switch {
	case p.RepetitionsAuto:
		switch {
		case p.Order != OrderInterleaved:
			c.add("repetitions", "auto adds ABBA pairs and looks at them between blocks: it needs order interleaved, got %s", p.Order)
		case p.MaxRepetitions < p.Repetitions+2 || p.MaxRepetitions%2 != 0:
			c.add("max_repetitions", "must be an even number of at least %d (the first look's %d pairs and one ABBA block more), got %d", p.Repetitions+2, p.Repetitions, p.MaxRepetitions)
		}
	case p.Repetitions < 1:
		c.add("repetitions", "must be at least 1, got %d", p.Repetitions)
	case p.Order == OrderInterleaved && p.Repetitions%2 != 0:
		c.add("repetitions", "must be even with order interleaved (ABBA pairs), got %d", p.Repetitions)
	}
	if p.Retries < 0 {
		c.add("retries", "must be 0 or more, got %d", p.Retries)
	}
	switch p.Seeds {
	case "", results.SeedsFixed:
	case results.SeedsVary:
		if p.Profile == string(inference.ProfileMLPerf) {
			c.add("seeds", "the mlperf profile keeps MLPerf's official seeds for every run; use seeds: fixed, or another profile")
		}
	default:
		c.add("seeds", "must be vary or fixed, got %q", p.Seeds)
	}
	if p.Order == OrderParallel {
		p.checkParallel(&c)
	}
	p.checkBounds(&c)

	c.percent("thresholds.min_retained_pct", p.Thresholds.MinRetainedPct)
	c.percent("thresholds.equivalence_margin_pct", p.Thresholds.EquivalenceMarginPct)

	if f := p.Server.OfflineFraction; !(f > 0 && f <= 1) {
		c.add("server.offline_fraction", "must be in (0, 1], got %v", f)
	}
	if q := p.Server.TargetQPS; !(q >= 0) || math.IsInf(q, 0) {
		c.add("server.target_qps", "must be 0 (use server.offline_fraction) or a positive number, got %v", q)
	}
	if q := p.Server.PeakPrecision; !(q >= 0) || math.IsInf(q, 0) {
		c.add("server.peak_precision", "must be 0 (LoadGen's decimals rule) or a positive number of QPS, got %v", q)
	}
	if q := p.Server.PeakBudgetS; !(q >= 0) || math.IsInf(q, 0) {
		c.add("server.peak_budget_s", "must be 0 (derived from the profile) or a positive number of seconds, got %v", q)
	}
	if q := p.Server.PeakMinQPS; !(q >= 0) || math.IsInf(q, 0) {
		c.add("server.peak_min_qps", "must be 0 (1/64 of the starting QPS) or a positive number, got %v", q)
	}

	if p.Output == "" {
		c.add("output", "must name a folder")
	}
	c.neighbours("neighbours", p.Neighbours, false)
	if p.Baseline != "" {
		if p.Order == OrderInterleaved {
			c.add("order", "interleaved alternates live baseline and candidate runs; with a stored baseline use sequential or parallel")
		}
		if IsStoreReference(p.Baseline) {
			c.add("baseline", "%q names runs of the run history: resolve it to a stored tree first (gpuperf does, with its history store on)", p.Baseline)
		} else if st, err := os.Stat(p.Baseline); err != nil {
			c.add("baseline", "stored baseline: %v", err)
		} else if !st.IsDir() {
			c.add("baseline", "stored baseline is not a folder: %s", p.Baseline)
		}
	}
	return c.err()
}

func (p *Plan) checkAgents(c *checker) {
	if len(p.Agents) == 0 {
		c.add("agents", "at least one candidate agent is needed")
		return
	}
	names := make(map[string]int)
	var baselines []string
	candidates := 0
	for i, a := range p.Agents {
		field := fmt.Sprintf("agents[%d]", i)
		switch first, dup := names[a.Name]; {
		case a.Name == "":
			c.add(field+".name", "must not be empty")
		case dup:
			c.add(field+".name", "%q is already the name of agents[%d]", a.Name, first)
		case !validName(a.Name):
			// Names become folders of the result tree.
			c.add(field+".name", "%q: use letters, digits, '.', '_' and '-' only", a.Name)
		default:
			names[a.Name] = i
		}

		loopback := a.Embedded()
		if !a.Embedded() {
			host, port, err := net.SplitHostPort(a.Address)
			if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
				c.add(field+".address", "must be host:port or %q, got %q", AddressEmbedded, a.Address)
			} else {
				loopback = isLoopback(host)
			}
		}

		switch a.Role {
		case RoleBaseline:
			baselines = append(baselines, a.Name)
		case RoleCandidate:
			candidates++
		default:
			c.add(field+".role", "must be baseline or candidate, got %q", a.Role)
		}

		c.credentials(field, a.TokenFile, a.TLS, a.Insecure)
		if a.TLS == nil && !loopback && !a.Insecure && a.Address != "" {
			c.add(field+".address", "%s is not a loopback address: plaintext there needs insecure: true, or tls", a.Address)
		}
		c.neighbours(field+".neighbours", a.Neighbours, true)
		if h := a.Hypervisor; h != nil {
			c.hypervisor(field+".hypervisor", a.Role, h)
		}
	}
	if candidates == 0 {
		c.add("agents", "at least one agent with role candidate is needed")
	}
	switch {
	case p.Baseline != "" && len(baselines) > 0:
		c.add("baseline", "a stored baseline replaces baseline agents, but the plan also has %s", quoteList(baselines))
	case p.Baseline == "" && len(baselines) == 0:
		c.add("agents", "at least one agent with role baseline is needed, or a stored baseline folder in baseline")
	}
}

// checkParallel refuses agents that share a machine under order parallel:
// their loads would contend for the same CPUs, memory and PCIe, and each
// would measure the other.
func (p *Plan) checkParallel(c *checker) {
	first := make(map[string]int)
	for i, a := range p.Agents {
		host := strings.ToLower(a.Host)
		if host == "" {
			host = defaultHost(a.Address)
		}
		if host == "" {
			continue
		}
		if j, ok := first[host]; ok {
			c.add(fmt.Sprintf("agents[%d].host", i),
				"order parallel: %q and %q run on one machine (%s); agents on one machine would measure each other (use order interleaved, or set host when the addresses are really different machines)",
				p.Agents[j].Name, a.Name, host)
			continue
		}
		first[host] = i
	}
}

func (p *Plan) checkWorkload(c *checker) {
	if p.Workload.Backend == "" {
		c.add("workload.backend", "must name a backend the agents offer (such as cpu)")
	}
	models := inference.Models()
	if !slices.Contains(models, p.Workload.Model) {
		c.add("workload.model", "unknown model %q (known: %s)", p.Workload.Model, strings.Join(models, ", "))
	}
	var s inference.TestSettings
	for _, fe := range settingsProblems(p.Workload.Settings, &s) {
		c.add("workload.settings."+fe.Field, "%s", fe.Problem)
	}
	c.settingsRules(p)
}

// settingsRules checks the overridden settings with the load generator's own
// rules, per scenario, as the runs will see them. Only problems with a key
// the plan sets are reported: the rest are the generator's business.
func (c *checker) settingsRules(p *Plan) {
	if len(p.Workload.Settings) == 0 || !slices.Contains(inference.Models(), p.Workload.Model) {
		return
	}
	profile, err := inference.ParseProfile(p.Profile)
	if err != nil {
		return
	}
	reported := make(map[string]bool)
	for _, sc := range p.ScenarioList() {
		s, _, err := inference.Settings(p.Workload.Model, sc, profile)
		if err != nil || len(settingsProblems(p.Workload.Settings, &s)) > 0 {
			continue
		}
		for _, line := range strings.Split(fmt.Sprint(s.Validate()), "\n") {
			key, problem, ok := strings.Cut(line, ": ")
			if !ok || reported[line] {
				continue
			}
			if _, set := p.Workload.Settings[key]; set {
				reported[line] = true
				c.add("workload.settings."+key, "%s (%s)", problem, sc.Flag())
			}
		}
	}
}

// ApplySettings sets the workload's setting overrides on s. Each key is a
// JSON name of an inference.TestSettings field; the value must have the
// field's type (a whole number for an integer field). scenario and mode are
// refused: the plan's scenarios and server.find_peak set them.
func (w Workload) ApplySettings(s *inference.TestSettings) error {
	var errs []error
	for _, fe := range settingsProblems(w.Settings, s) {
		errs = append(errs, &FieldError{Field: "workload.settings." + fe.Field, Problem: fe.Problem})
	}
	return errors.Join(errs...)
}

// settingsProblems applies overrides to s, field by field, and returns a
// FieldError (Field being the key) for each it cannot apply. Keys are taken
// in sorted order so reports are stable.
func settingsProblems(overrides map[string]any, s *inference.TestSettings) []FieldError {
	if len(overrides) == 0 {
		return nil
	}
	fields := settingsFields()
	var out []FieldError
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	sv := reflect.ValueOf(s).Elem()
	for _, key := range keys {
		switch key {
		case "scenario":
			out = append(out, FieldError{Field: key, Problem: "is set per run from scenarios"})
			continue
		case "mode":
			out = append(out, FieldError{Field: key, Problem: "is set per run from server.find_peak"})
			continue
		}
		idx, ok := fields[key]
		if !ok {
			out = append(out, FieldError{Field: key, Problem: "unknown test setting" + suggest(key, settableNames(fields))})
			continue
		}
		if err := setSetting(sv.FieldByIndex(idx), overrides[key]); err != nil {
			out = append(out, FieldError{Field: key, Problem: err.Error()})
		}
	}
	return out
}

// settableNames lists the settings a plan may set, sorted.
func settableNames(fields map[string][]int) []string {
	var names []string
	for n := range maps.Keys(fields) {
		if n != "scenario" && n != "mode" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// suggest offers the names closest to a mistyped key, or lists them all
// when none is close.
func suggest(key string, names []string) string {
	best, bestDist := []string(nil), 4 // more edits than this is a different word
	for _, n := range names {
		d := spelling.Distance(key, n)
		if strings.HasPrefix(n, key) || strings.HasPrefix(key, n) {
			d = min(d, 1)
		}
		switch {
		case d < bestDist:
			best, bestDist = []string{n}, d
		case d == bestDist:
			best = append(best, n)
		}
	}
	if len(best) > 0 {
		return "; did you mean " + strings.Join(best, " or ") + "?"
	}
	return " (known: " + strings.Join(names, ", ") + ")"
}

// settingsFields maps TestSettings' JSON names to their field indexes.
func settingsFields() map[string][]int {
	t := reflect.TypeFor[inference.TestSettings]()
	m := make(map[string][]int, t.NumField())
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.IsExported() && name != "" && name != "-" {
			m[name] = f.Index
		}
	}
	return m
}

// setSetting stores a YAML value in a settings field of kind bool, integer
// or float, refusing anything that would need a guess: text for numbers, a
// fraction for an integer, a negative number for an unsigned one.
func setSetting(f reflect.Value, v any) error {
	num, isNum := asFloat(v)
	switch f.Kind() {
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("want true or false, got %s", describeValue(v))
		}
		f.SetBool(b)
		return nil
	case reflect.Float32, reflect.Float64:
		if !isNum || math.IsNaN(num) || math.IsInf(num, 0) {
			return fmt.Errorf("want a number, got %s", describeValue(v))
		}
		f.SetFloat(num)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		switch x := v.(type) {
		case uint64:
			f.SetUint(x)
			return nil
		case int:
			if x >= 0 {
				f.SetUint(uint64(x))
				return nil
			}
		case float64:
			if x >= 0 && x == math.Trunc(x) && x < math.Ldexp(1, 64) {
				f.SetUint(uint64(x))
				return nil
			}
		}
		return fmt.Errorf("want a non-negative integer, got %s", describeValue(v))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		switch x := v.(type) {
		case int:
			f.SetInt(int64(x))
			return nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < math.Ldexp(1, 53) {
				f.SetInt(int64(x))
				return nil
			}
		}
		return fmt.Errorf("want an integer, got %s", describeValue(v))
	case reflect.String:
		// Checked with the generator's own rules (settingsRules).
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("want text, got %s", describeValue(v))
		}
		f.SetString(str)
		return nil
	}
	return fmt.Errorf("cannot be set from a plan")
}

// asFloat reads any YAML number.
func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// checker gathers a plan's problems so Validate can report them together.
type checker struct {
	file       string
	overridden map[string]bool
	errs       []error
}

func (c *checker) add(field, format string, args ...any) {
	problem := fmt.Sprintf(format, args...)
	if c.overridden[field] {
		problem += " " + overrideSource(field)
	}
	c.errs = append(c.errs, &FieldError{File: c.file, Field: field, Problem: problem})
}

func (c *checker) err() error { return errors.Join(c.errs...) }

func (c *checker) percent(field string, v float64) {
	if !(v > 0 && v <= 100) {
		c.add(field, "must be a percentage in (0, 100], got %v", v)
	}
}

// exists checks that a path the plan names is a regular file; an empty
// path is left to the other rules.
// hypervisor checks a candidate's hypervisor agent as an agent's address,
// token and TLS are checked.
func (c *checker) hypervisor(field, role string, h *HypervisorSpec) {
	if role != RoleCandidate {
		c.add(field, "only a candidate runs on a vGPU hypervisor host")
	}
	host, port, err := net.SplitHostPort(h.Address)
	n, perr := strconv.Atoi(port)
	if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		c.add(field+".address", "must be host:port, got %q", h.Address)
	} else if h.TLS == nil && !h.Insecure && !isLoopback(host) {
		c.add(field+".address", "%s is not a loopback address: plaintext there needs insecure: true, or tls", h.Address)
	}
	c.credentials(field, h.TokenFile, h.TLS, h.Insecure)
}

// credentials checks an endpoint's token file and TLS files.
func (c *checker) credentials(field, tokenFile string, t *TLSSpec, insecure bool) {
	c.exists(field+".token_file", tokenFile)
	if t == nil {
		return
	}
	if (t.Cert == "") != (t.Key == "") {
		c.add(field+".tls", "cert and key go together (a client certificate needs its key)")
	}
	c.exists(field+".tls.ca", t.CA)
	c.exists(field+".tls.cert", t.Cert)
	c.exists(field+".tls.key", t.Key)
	if insecure {
		c.add(field+".insecure", "cannot be combined with tls")
	}
}

func (c *checker) exists(field, path string) {
	if path == "" {
		return
	}
	st, err := os.Stat(path)
	switch {
	case err != nil:
		c.add(field, "%v", err)
	case !st.Mode().IsRegular():
		c.add(field, "%s is not a regular file", path)
	}
}

func (c *checker) neighbours(field, v string, optional bool) {
	switch v {
	case NeighboursIdle, NeighboursLoaded, NeighboursUnknown:
		return
	case "":
		if optional {
			return
		}
	}
	c.add(field, "must be idle, loaded or unknown, got %q", v)
}

func validName(s string) bool {
	if s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	if len(q) == 1 {
		return "baseline agent " + q[0]
	}
	return "baseline agents " + strings.Join(q, ", ")
}

// Warnings returns findings that do not stop a plan but may spoil its
// answer, each naming the file and field.
func (p *Plan) Warnings() []string {
	file := p.source
	if file == "" {
		file = "plan"
	}
	var out []string
	warn := func(field, format string, args ...any) {
		out = append(out, fmt.Sprintf("%s: %s: %s", file, field, fmt.Sprintf(format, args...)))
	}
	if m := p.Thresholds.EquivalenceMarginPct; p.Repetitions >= 1 && m > 0 && !p.RepetitionsAuto {
		if k, ok := results.PairsForPower(typicalPairSpreadPct, m, results.DefaultPower, 0.05); ok && p.Repetitions < k {
			if p.Order == OrderInterleaved && k%2 != 0 {
				k++
			}
			out = append(out, fmt.Sprintf("%s: repetitions %d: %d are needed for %g%% power to show equivalence within ±%g%% at a typical %g%% run-to-run spread on each side",
				file, p.Repetitions, k, 100*results.DefaultPower, m, typicalSpreadPct))
		}
	}
	for i, a := range p.Agents {
		if a.Role == RoleBaseline && a.Neighbours != "" {
			warn(fmt.Sprintf("agents[%d].neighbours", i), "is recorded with candidates only; ignored on baseline %q", a.Name)
		}
	}
	if p.Server.PeakPrecision != 0 && !p.Server.FindPeak {
		warn("server.peak_precision", "ignored without server.find_peak: true")
	}
	if (p.Server.PeakBudgetS != 0 || p.Server.PeakMinQPS != 0) && !p.Server.FindPeak {
		warn("server.peak_budget_s", "server.peak_budget_s and server.peak_min_qps are ignored without server.find_peak: true")
	}
	return out
}

// typicalSpreadPct is the run-to-run coefficient of variation assumed when
// sizing repetitions: about what repeated GPU inference runs show on a
// quiet host. Two independent sides spread the ratio of a pair by √2 as
// much.
const (
	typicalSpreadPct     = 1.0
	typicalPairSpreadPct = typicalSpreadPct * math.Sqrt2
)
