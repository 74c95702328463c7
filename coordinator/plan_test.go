package coordinator

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/gpuperf/gpuperf/agent"
	"github.com/gpuperf/gpuperf/configs"
	"github.com/gpuperf/gpuperf/inference"
)

// planYAML builds a plan file from a valid base: over replaces a top-level
// key's text (after "key:"), "" drops the key, and keys not in the base are
// appended in sorted order.
func planYAML(over map[string]string) string {
	base := []struct{ key, val string }{
		{"version", "v1"},
		{"agents", `
  - {name: bm, address: "127.0.0.1:7070", role: baseline}
  - {name: vm, address: "127.0.0.1:7071", role: candidate}`},
		{"workload", "{backend: cpu, model: resnet50}"},
		{"scenarios", "[offline, single-stream, server]"},
	}
	var b strings.Builder
	done := make(map[string]bool)
	write := func(k, v string) {
		if v != "" {
			b.WriteString(k + ": " + v + "\n")
		}
		done[k] = true
	}
	for _, kv := range base {
		v, ok := over[kv.key]
		if !ok {
			v = kv.val
		}
		write(kv.key, v)
	}
	for _, k := range slices.Sorted(maps.Keys(over)) {
		if !done[k] {
			write(k, over[k])
		}
	}
	return b.String()
}

// writeFile writes data to dir/name, making folders on the way.
func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadAndValidate is how a command uses a plan: decode, then validate.
func loadAndValidate(path string, v *viper.Viper) (*Plan, error) {
	p, err := LoadPlan(path, v)
	if err != nil {
		return nil, err
	}
	return p, p.Validate()
}

// problems splits a joined plan error into its lines.
func problems(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestIssueSamplePlanParses(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/plans/issue-sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, dir, "plan.yaml", string(data))
	p, err := LoadPlan(path, nil)
	if err != nil {
		t.Fatalf("LoadPlan: %v", err)
	}
	want := []AgentSpec{
		{Name: "bm", Address: "10.0.0.5:7070", Role: RoleBaseline, Host: "10.0.0.5"},
		{Name: "vgpu", Address: "10.0.0.6:7070", Role: RoleCandidate, Host: "10.0.0.6",
			TokenFile: "/etc/gpuperf/token", // absolute: kept
			TLS: &TLSSpec{ // relative: resolved against the plan's folder
				CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "c.pem"), Key: filepath.Join(dir, "c.key")}},
	}
	if !reflect.DeepEqual(p.Agents, want) {
		t.Errorf("Agents = %+v; want %+v", p.Agents, want)
	}
	if got := p.Workload; got.Backend != "cpu" || got.Model != "resnet50" {
		t.Errorf("Workload = %+v", got)
	}
	if got, want := p.ScenarioList(), []inference.Scenario{inference.Offline, inference.SingleStream, inference.Server}; !slices.Equal(got, want) {
		t.Errorf("ScenarioList() = %v; want %v", got, want)
	}
	if p.Profile != "quick" || p.Repetitions != 4 || p.Order != OrderInterleaved || p.Output != "./gpuperf-results" ||
		p.Thresholds != (Thresholds{MinRetainedPct: 95, EquivalenceMarginPct: 3}) {
		t.Errorf("scalars = %q %d %q %q %+v", p.Profile, p.Repetitions, p.Order, p.Output, p.Thresholds)
	}
	// Defaults for what the sample leaves out.
	if p.Retries != 1 || p.Neighbours != NeighboursUnknown || p.Server.OfflineFraction != 0.5 || p.Baseline != "" {
		t.Errorf("defaults: retries %d, neighbours %q, server %+v, baseline %q", p.Retries, p.Neighbours, p.Server, p.Baseline)
	}
	if b, c := p.Baselines(), p.Candidates(); len(b) != 1 || b[0].Name != "bm" || len(c) != 1 || c[0].Name != "vgpu" {
		t.Errorf("Baselines() = %v, Candidates() = %v", b, c)
	}

	// With its TLS files in place, the sample is valid but for two things
	// only the real lab has: the token file, and a plaintext agent on a
	// non-loopback address.
	for _, f := range []string{"ca.pem", "c.pem", "c.key"} {
		writeFile(t, dir, f, "x")
	}
	got := problems(p.Validate())
	wantErrs := []string{
		path + `: agents[0].address: 10.0.0.5:7070 is not a loopback address: plaintext there needs insecure: true, or tls`,
		path + `: agents[1].token_file: stat /etc/gpuperf/token: no such file or directory`,
	}
	if !slices.Equal(got, wantErrs) {
		t.Errorf("Validate() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantErrs, "\n"))
	}
}

func TestBrokenPlans(t *testing.T) {
	cases := []struct {
		name  string
		over  map[string]string
		setup func(t *testing.T, dir string) // files the plan needs
		want  string                         // after "<path>: "
	}{
		{name: "unknown top-level field", over: map[string]string{"colour": "red"},
			want: "colour: unknown field (known: version, agents, workload, scenarios, profile, repetitions, order, retries, thresholds, output, baseline, neighbours, server, seeds, max_repetitions, interference, watchdog)"},
		{name: "seeds: vary under the mlperf profile", over: map[string]string{"seeds": "vary", "profile": "mlperf"},
			want: "seeds: the mlperf profile keeps MLPerf's official seeds for every run; use seeds: fixed, or another profile"},
		{name: "unknown seeds mode", over: map[string]string{"seeds": "random"},
			want: `seeds: must be vary or fixed, got "random"`},
		{name: "unknown agent field", over: map[string]string{"agents": `
  - {name: bm, address: "127.0.0.1:7070", role: baseline, colour: red}
  - {name: vm, address: "127.0.0.1:7071", role: candidate}`},
			want: "agents[0].colour: unknown field (known: name, address, role, host, token_file, tls, insecure, neighbours, hypervisor, neighbour_agent)"},
		{name: "unknown tls field", over: map[string]string{"agents": `
  - {name: bm, address: "127.0.0.1:7070", role: baseline, tls: {ca: ca.pem, pin: abc}}
  - {name: vm, address: "127.0.0.1:7071", role: candidate}`},
			want: "agents[0].tls.pin: unknown field (known: ca, cert, key, server_name)"},
		{name: "misspelt field", over: map[string]string{"repetitons": "4"},
			want: "repetitons: unknown field; did you mean repetitions? (known: version, agents, workload, scenarios, profile, repetitions, order, retries, thresholds, output, baseline, neighbours, server, seeds, max_repetitions, interference, watchdog)"},
		{name: "misspelt nested field", over: map[string]string{"server": "{find_peek: true}"},
			want: "server.find_peek: unknown field; did you mean find_peak? (known: target_qps, offline_fraction, find_peak, peak_precision, peak_budget_s, peak_min_qps)"},
		{name: "wrong type", over: map[string]string{"repetitions": "four"},
			want: `repetitions: want an integer, got "four"`},
		{name: "fraction for an integer", over: map[string]string{"repetitions": "4.5"},
			want: "repetitions: want an integer, got 4.5"},
		{name: "text for a bool", over: map[string]string{"server": `{find_peak: "yes"}`},
			want: `server.find_peak: want true or false, got "yes"`},
		{name: "text for a number", over: map[string]string{"thresholds": `{min_retained_pct: "95%"}`},
			want: `thresholds.min_retained_pct: want a number, got "95%"`},
		{name: "scalar for a list", over: map[string]string{"scenarios": "offline"},
			want: "scenarios: want a list, got text"},
		{name: "scalar for a mapping", over: map[string]string{"workload": "cpu"},
			want: "workload: want a mapping, got text"},
		{name: "list for a mapping", over: map[string]string{"server": "[1, 2]"},
			want: "server: want a mapping, got a list"},
		{name: "yaml syntax", over: map[string]string{"scenarios": "[offline"},
			want: "yaml: line"},
		{name: "wrong version", over: map[string]string{"version": "v2"},
			want: `version: must be "v1", got "v2"`},
		{name: "missing agents", over: map[string]string{"agents": ""},
			want: "agents: at least one candidate agent is needed"},
		{name: "no candidate", over: map[string]string{"agents": `
  - {name: bm, address: "127.0.0.1:7070", role: baseline}`},
			want: "agents: at least one agent with role candidate is needed"},
		{name: "no baseline", over: map[string]string{"agents": `
  - {name: vm, address: "127.0.0.1:7071", role: candidate}`},
			want: "agents: at least one agent with role baseline is needed, or a stored baseline folder in baseline"},
		{name: "duplicate names", over: map[string]string{"agents": `
  - {name: bm, address: "127.0.0.1:7070", role: baseline}
  - {name: bm, address: "127.0.0.1:7071", role: candidate}`},
			want: `agents[1].name: "bm" is already the name of agents[0]`},
		{name: "empty name", over: map[string]string{"agents": `
  - {address: "127.0.0.1:7070", role: baseline}
  - {name: vm, address: "127.0.0.1:7071", role: candidate}`},
			want: "agents[0].name: must not be empty"},
		{name: "name that escapes the result tree", over: map[string]string{"agents": `
  - {name: ../bm, address: "127.0.0.1:7070", role: baseline}
  - {name: vm, address: "127.0.0.1:7071", role: candidate}`},
			want: `agents[0].name: "../bm": use letters, digits, '.', '_' and '-' only`},
		{name: "bad role", over: map[string]string{"agents": `
  - {name: bm, address: "127.0.0.1:7070", role: baseline}
  - {name: vm, address: "127.0.0.1:7071", role: leader}`},
			want: `agents[1].role: must be baseline or candidate, got "leader"`},
		{name: "address without port", over: map[string]string{"agents": `
  - {name: bm, address: "10.0.0.5", role: baseline}
  - {name: vm, address: "127.0.0.1:7071", role: candidate}`},
			want: `agents[0].address: must be host:port or "embedded", got "10.0.0.5"`},
		{name: "plaintext off loopback", over: map[string]string{"agents": `
  - {name: bm, address: "10.0.0.5:7070", role: baseline}
  - {name: vm, address: "127.0.0.1:7071", role: candidate}`},
			want: "agents[0].address: 10.0.0.5:7070 is not a loopback address: plaintext there needs insecure: true, or tls"},
		{name: "tls cert without key", over: map[string]string{"agents": `
  - {name: bm, address: "127.0.0.1:7070", role: baseline, tls: {ca: ca.pem, cert: c.pem}}
  - {name: vm, address: "127.0.0.1:7071", role: candidate}`},
			setup: func(t *testing.T, dir string) { writeFile(t, dir, "ca.pem", "x"); writeFile(t, dir, "c.pem", "x") },
			want:  "agents[0].tls: cert and key go together (a client certificate needs its key)"},
		{name: "missing token file", over: map[string]string{"agents": `
  - {name: bm, address: "127.0.0.1:7070", role: baseline, token_file: secrets/token}
  - {name: vm, address: "127.0.0.1:7071", role: candidate}`},
			want: "agents[0].token_file: stat "},
		{name: "odd repetitions interleaved", over: map[string]string{"repetitions": "3"},
			want: "repetitions: must be even with order interleaved (ABBA pairs), got 3"},
		{name: "zero repetitions", over: map[string]string{"repetitions": "0", "order": "sequential"},
			want: "repetitions: must be at least 1, got 0"},
		{name: "unknown order", over: map[string]string{"order": "random"},
			want: `order: must be interleaved, sequential or parallel, got "random"`},
		{name: "parallel on one machine", over: map[string]string{"order": "parallel"},
			want: `agents[1].host: order parallel: "bm" and "vm" run on one machine (localhost); agents on one machine would measure each other`},
		{name: "parallel on one named host", over: map[string]string{"order": "parallel", "agents": `
  - {name: bm, address: "10.0.0.5:7070", role: baseline, insecure: true, host: esx-1}
  - {name: vm, address: "10.0.0.6:7070", role: candidate, insecure: true, host: ESX-1}`},
			want: `agents[1].host: order parallel: "bm" and "vm" run on one machine (esx-1)`},
		{name: "unknown scenario", over: map[string]string{"scenarios": "[offline, batch]"},
			want: `scenarios[1]: unknown scenario "batch"`},
		{name: "duplicate scenario", over: map[string]string{"scenarios": "[offline, Offline]"},
			want: "scenarios[1]: offline is already scenarios[0]"},
		{name: "no scenarios", over: map[string]string{"scenarios": "[]"},
			want: "scenarios: at least one is needed"},
		{name: "unknown profile", over: map[string]string{"profile": "long"},
			want: `profile: unknown profile "long"`},
		{name: "unknown model", over: map[string]string{"workload": "{backend: cpu, model: resnet51}"},
			want: `workload.model: unknown model "resnet51" (known: `},
		{name: "no backend", over: map[string]string{"workload": "{model: resnet50}"},
			want: "workload.backend: must name a backend the agents offer"},
		{name: "unknown settings key", over: map[string]string{"workload": "{backend: cpu, settings: {min_duration: 2000}}"},
			want: "workload.settings.min_duration: unknown test setting; did you mean min_duration_ms?"},
		{name: "far-off settings key", over: map[string]string{"workload": "{backend: cpu, settings: {colour: 1}}"},
			want: "workload.settings.colour: unknown test setting (known: accuracy_log_probability, "},
		{name: "settings value of the wrong type", over: map[string]string{"workload": `{backend: cpu, settings: {min_duration_ms: "2s"}}`},
			want: `workload.settings.min_duration_ms: want a non-negative integer, got "2s"`},
		{name: "negative settings value", over: map[string]string{"workload": "{backend: cpu, settings: {min_query_count: -1}}"},
			want: "workload.settings.min_query_count: want a non-negative integer, got -1"},
		{name: "settings bool", over: map[string]string{"workload": "{backend: cpu, settings: {print_timestamps: 1}}"},
			want: "workload.settings.print_timestamps: want true or false, got 1"},
		{name: "settings scenario", over: map[string]string{"workload": "{backend: cpu, settings: {scenario: Offline}}"},
			want: "workload.settings.scenario: is set per run from scenarios"},
		{name: "settings the generator refuses", over: map[string]string{"workload": "{backend: cpu, settings: {min_duration_ms: 0}}"},
			want: "workload.settings.min_duration_ms: must be positive (offline)"},
		{name: "threshold zero", over: map[string]string{"thresholds": "{min_retained_pct: 0}"},
			want: "thresholds.min_retained_pct: must be a percentage in (0, 100], got 0"},
		{name: "threshold over 100", over: map[string]string{"thresholds": "{min_retained_pct: 150}"},
			want: "thresholds.min_retained_pct: must be a percentage in (0, 100], got 150"},
		{name: "margin zero", over: map[string]string{"thresholds": "{equivalence_margin_pct: 0}"},
			want: "thresholds.equivalence_margin_pct: must be a percentage in (0, 100], got 0"},
		{name: "offline fraction over 1", over: map[string]string{"server": "{offline_fraction: 1.5}"},
			want: "server.offline_fraction: must be in (0, 1], got 1.5"},
		{name: "negative target qps", over: map[string]string{"server": "{target_qps: -1}"},
			want: "server.target_qps: must be 0 (use server.offline_fraction) or a positive number, got -1"},
		{name: "negative retries", over: map[string]string{"retries": "-1"},
			want: "retries: must be 0 or more, got -1"},
		{name: "bad neighbours", over: map[string]string{"neighbours": "busy"},
			want: `neighbours: must be idle, loaded or unknown, got "busy"`},
		{name: "bad agent neighbours", over: map[string]string{"agents": `
  - {name: bm, address: "127.0.0.1:7070", role: baseline}
  - {name: vm, address: "127.0.0.1:7071", role: candidate, neighbours: noisy}`},
			want: `agents[1].neighbours: must be idle, loaded or unknown, got "noisy"`},
		{name: "stored baseline plus baseline agents", over: map[string]string{"baseline": "stored", "order": "sequential"},
			setup: func(t *testing.T, dir string) { os.Mkdir(filepath.Join(dir, "stored"), 0o755) },
			want:  `baseline: a stored baseline replaces baseline agents, but the plan also has baseline agent "bm"`},
		{name: "stored baseline missing", over: map[string]string{"baseline": "stored", "order": "sequential", "agents": `
  - {name: vm, address: "127.0.0.1:7071", role: candidate}`},
			want: "baseline: stored baseline: stat "},
		{name: "stored baseline is a file", over: map[string]string{"baseline": "stored", "order": "sequential", "agents": `
  - {name: vm, address: "127.0.0.1:7071", role: candidate}`},
			setup: func(t *testing.T, dir string) { writeFile(t, dir, "stored", "x") },
			want:  "baseline: stored baseline is not a folder: "},
		{name: "stored baseline interleaved", over: map[string]string{"baseline": "stored", "order": "interleaved", "agents": `
  - {name: vm, address: "127.0.0.1:7071", role: candidate}`},
			setup: func(t *testing.T, dir string) { os.Mkdir(filepath.Join(dir, "stored"), 0o755) },
			want:  "order: interleaved alternates live baseline and candidate runs; with a stored baseline use sequential or parallel"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			path := writeFile(t, dir, "plan.yaml", planYAML(tc.over))
			_, err := loadAndValidate(path, nil)
			if err == nil {
				t.Fatalf("plan is valid; want %q\n%s", tc.want, planYAML(tc.over))
			}
			// Each problem stands on its own line, naming the file first.
			for _, line := range problems(err) {
				if !strings.HasPrefix(line, path+": ") {
					t.Errorf("problem %q does not start with the file %s", line, path)
				}
			}
			if !strings.Contains(err.Error(), path+": "+tc.want) {
				t.Errorf("error =\n%v\nwant a line containing\n%s: %s", err, path, tc.want)
			}
		})
	}
}

// TestValidPlans checks that the rules do not refuse what they should
// allow.
func TestValidPlans(t *testing.T) {
	cases := map[string]map[string]string{
		"base":               {},
		"sequential odd":     {"order": "sequential", "repetitions": "3"},
		"retries zero":       {"retries": "0"},
		"parallel two hosts": {"order": "parallel", "repetitions": "3", "agents": "\n  - {name: bm, address: \"10.0.0.5:7070\", role: baseline, insecure: true}\n  - {name: vm, address: \"10.0.0.5:7071\", role: candidate, insecure: true, host: esx-2}"},
		"embedded":           {"agents": "\n  - {name: a, address: embedded, role: baseline}\n  - {name: b, address: embedded, role: candidate}"},
		"several per role":   {"agents": "\n  - {name: a, address: \"127.0.0.1:1\", role: baseline}\n  - {name: b, address: \"127.0.0.1:2\", role: baseline}\n  - {name: c, address: \"127.0.0.1:3\", role: candidate, neighbours: loaded}\n  - {name: d, address: \"[::1]:4\", role: candidate}"},
		"settings":           {"workload": "{backend: sim, model: bert, settings: {min_duration_ms: 2000, server_target_qps: 100, server_target_latency_ns: 1e8, print_timestamps: true, schedule_rng_seed: 16159082839903944936}}"},
		"find peak":          {"server": "{find_peak: true, peak_precision: 0.5, target_qps: 10}"},
		"all scenarios":      {"scenarios": "[Offline, Server, SingleStream, multi-stream]", "profile": "MLPerf"},
		"stored baseline":    {"baseline": "stored", "agents": "\n  - {name: vm, address: \"127.0.0.1:7071\", role: candidate}"},
	}
	for name, over := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "stored"), 0o755); err != nil {
				t.Fatal(err)
			}
			path := writeFile(t, dir, "plan.yaml", planYAML(over))
			p, err := loadAndValidate(path, nil)
			if err != nil {
				t.Fatalf("%v\n%s", err, planYAML(over))
			}
			if over["baseline"] != "" && p.Order != OrderSequential {
				t.Errorf("order with a stored baseline = %q; want sequential by default", p.Order)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "plan.yaml", planYAML(map[string]string{
		"version":     "v0",
		"repetitions": "5",
		"scenarios":   "[offline, warp]",
		"workload":    "{backend: cpu, model: nope}",
		"thresholds":  "{min_retained_pct: 101}",
		"agents": `
  - {name: bm, address: "127.0.0.1:7070", role: baseline}
  - {name: bm, address: "127.0.0.1:7071", role: leader}`,
	}))
	p, err := LoadPlan(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Validate()
	u, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate() = %v; want a joined error", err)
	}
	var fields []string
	for _, e := range u.Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) || fe.File != path {
			t.Fatalf("problem %v is not a FieldError of %s", e, path)
		}
		fields = append(fields, fe.Field)
	}
	want := []string{"version", "agents[1].name", "agents[1].role", "agents", "workload.model", "scenarios[1]", "repetitions", "thresholds.min_retained_pct"}
	if !slices.Equal(fields, want) {
		t.Errorf("fields = %v; want %v\n%v", fields, want, err)
	}

	// Decoding, too, reports every field it cannot read.
	path = writeFile(t, dir, "decode.yaml", planYAML(map[string]string{"repetitions": "four", "retries": "1.5", "colour": "red", "server": "{qps: 1}"}))
	_, err = LoadPlan(path, nil)
	for _, want := range []string{
		path + ": colour: unknown field",
		path + `: repetitions: want an integer, got "four"`,
		path + ": retries: want an integer, got 1.5",
		path + ": server.qps: unknown field",
	} {
		if !strings.Contains(fmtErr(err), want) {
			t.Errorf("LoadPlan error =\n%v\nwant a line %q", err, want)
		}
	}
}

func fmtErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// newCommandViper binds a viper the way cmd/gpuperf's bindViper does: the
// GPUPERF environment prefix, then the command's flags on top.
func newCommandViper(t *testing.T, args ...string) *viper.Viper {
	t.Helper()
	fs := pflag.NewFlagSet("compare", pflag.ContinueOnError)
	fs.String("repetitions", "4", "") // a number, or auto, as gpuperf's flag
	fs.String("output", "./default-out", "")
	fs.String("baseline", "", "")
	fs.String("plan", "", "") // not a plan key: must be ignored
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	v := viper.New()
	v.SetEnvPrefix("GPUPERF")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if err := v.BindPFlags(fs); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOverridePrecedence(t *testing.T) {
	// The developer's own GPUPERF_* must not leak in; viper ignores empty
	// variables.
	for _, k := range overridableKeys {
		t.Setenv("GPUPERF_"+strings.ToUpper(k), "")
	}
	dir := t.TempDir()
	path := writeFile(t, dir, "plan.yaml", planYAML(map[string]string{"repetitions": "2", "output": "./from-file"}))
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		wantRep int
		wantOut string
		auto    bool
	}{
		{name: "file", wantRep: 2, wantOut: "./from-file"},
		{name: "env over file", env: map[string]string{"GPUPERF_REPETITIONS": "6", "GPUPERF_OUTPUT": "/tmp/env-out"}, wantRep: 6, wantOut: "/tmp/env-out"},
		{name: "flag over env", env: map[string]string{"GPUPERF_REPETITIONS": "6"}, args: []string{"--repetitions=8"}, wantRep: 8, wantOut: "./from-file"},
		{name: "flag over file", args: []string{"--output=./from-flag"}, wantRep: 2, wantOut: "./from-flag"},
		{name: "auto from the environment", env: map[string]string{"GPUPERF_REPETITIONS": "auto"}, wantRep: 4, wantOut: "./from-file", auto: true},
		{name: "auto from a flag", args: []string{"--repetitions=auto"}, wantRep: 4, wantOut: "./from-file", auto: true},
		{name: "flag default never beats the file", args: []string{"--plan=x"}, wantRep: 2, wantOut: "./from-file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			p, err := LoadPlan(path, newCommandViper(t, tc.args...))
			if err != nil {
				t.Fatal(err)
			}
			if p.Repetitions != tc.wantRep || p.Output != tc.wantOut || p.RepetitionsAuto != tc.auto {
				t.Errorf("repetitions %d (auto %v), output %q; want %d (auto %v), %q", p.Repetitions, p.RepetitionsAuto, p.Output, tc.wantRep, tc.auto, tc.wantOut)
			}
			if err := p.Validate(); err != nil {
				t.Error(err)
			}
		})
	}

	t.Run("nil viper reads the file alone", func(t *testing.T) {
		t.Setenv("GPUPERF_REPETITIONS", "6")
		p, err := LoadPlan(path, nil)
		if err != nil || p.Repetitions != 2 {
			t.Errorf("LoadPlan(nil) = %v, %v; want repetitions 2 from the file", p, err)
		}
	})
	t.Run("bad env value names its source", func(t *testing.T) {
		t.Setenv("GPUPERF_REPETITIONS", "six")
		_, err := LoadPlan(path, newCommandViper(t))
		want := path + `: repetitions: want an integer, got "six" (set by GPUPERF_REPETITIONS or --repetitions)`
		if fmtErr(err) != want {
			t.Errorf("LoadPlan = %v; want %s", err, want)
		}
	})
	t.Run("invalid env value names its source", func(t *testing.T) {
		t.Setenv("GPUPERF_REPETITIONS", "5")
		p, err := LoadPlan(path, newCommandViper(t))
		if err != nil {
			t.Fatal(err)
		}
		want := path + ": repetitions: must be even with order interleaved (ABBA pairs), got 5 (set by GPUPERF_REPETITIONS or --repetitions)"
		if err := p.Validate(); fmtErr(err) != want {
			t.Errorf("Validate() = %v; want %s", err, want)
		}
	})
	t.Run("baseline from the environment is relative to the working directory", func(t *testing.T) {
		t.Setenv("GPUPERF_BASELINE", "stored/run1")
		p, err := LoadPlan(path, newCommandViper(t))
		if err != nil {
			t.Fatal(err)
		}
		if p.Baseline != "stored/run1" {
			t.Errorf("Baseline = %q; want it unresolved", p.Baseline)
		}
	})
}

func TestWarnings(t *testing.T) {
	cases := []struct {
		name string
		over map[string]string
		want []string // after "<path>: "
	}{
		// Pair spread √2 × 1%: 80% power needs 4 pairs at ±3% (the
		// floor), 6 at ±2%, 19 at ±1% (mpmath, as in results' power tests).
		{name: "repetitions 2 at margin 3", over: map[string]string{"repetitions": "2", "order": "sequential"},
			want: []string{"repetitions 2: 4 are needed for 80% power to show equivalence within ±3% at a typical 1% run-to-run spread on each side"}},
		{name: "margin 2", over: map[string]string{"repetitions": "4", "thresholds": "{equivalence_margin_pct: 2}"},
			want: []string{"repetitions 4: 6 are needed for 80% power to show equivalence within ±2% at a typical 1% run-to-run spread on each side"}},
		{name: "tight margin, interleaved rounds up to whole ABBA blocks", over: map[string]string{"repetitions": "4", "thresholds": "{equivalence_margin_pct: 1}"},
			want: []string{"repetitions 4: 20 are needed for 80% power to show equivalence within ±1% at a typical 1% run-to-run spread on each side"}},
		{name: "enough repetitions", over: map[string]string{"repetitions": "4"}},
		{name: "neighbours on a baseline", over: map[string]string{"agents": `
  - {name: bm, address: "127.0.0.1:7070", role: baseline, neighbours: idle}
  - {name: vm, address: "127.0.0.1:7071", role: candidate}`},
			want: []string{`agents[0].neighbours: is recorded with candidates only; ignored on baseline "bm"`}},
		{name: "peak precision without peak search", over: map[string]string{"server": "{peak_precision: 1}"},
			want: []string{"server.peak_precision: ignored without server.find_peak: true"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, t.TempDir(), "plan.yaml", planYAML(tc.over))
			p, err := loadAndValidate(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, w := range tc.want {
				want = append(want, path+": "+w)
			}
			if got := p.Warnings(); !slices.Equal(got, want) {
				t.Errorf("Warnings() =\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// TestExamplePlans loads every plan in configs/ from a copy, with the files
// it names created beside it, so the examples stay valid documentation.
func TestExamplePlans(t *testing.T) {
	paths, err := filepath.Glob("../configs/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Each example runs as written on agents configured with the example
	// agent.yaml (or with none): its backend is one they offer.
	offered := agent.DefaultConfig().Backends
	if ac, err := agent.LoadConfig("../configs/agent.yaml"); err != nil {
		t.Fatal(err)
	} else {
		offered = append(offered, ac.Backends...)
	}
	var names []string
	for _, src := range paths {
		name := filepath.Base(src)
		if name == "agent.yaml" { // an agent's configuration, not a plan
			continue
		}
		names = append(names, name)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			path := writeFile(t, dir, name, string(data))
			p, err := LoadPlan(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			create := func(file string, folder bool) {
				if file == "" {
					return
				}
				if !strings.HasPrefix(file, dir+string(filepath.Separator)) {
					t.Fatalf("%s names %s: examples use paths relative to the plan", name, file)
				}
				if folder {
					if err := os.MkdirAll(file, 0o755); err != nil {
						t.Fatal(err)
					}
					return
				}
				writeFile(t, filepath.Dir(file), filepath.Base(file), "x")
			}
			if IsStoreReference(p.Baseline) {
				// gpuperf resolves a baseline from the run history to a
				// stored tree before validating; one stands in here.
				p.Baseline = filepath.Join(dir, "stored-baseline")
			}
			create(p.Baseline, true)
			if d := p.Discovery; d != nil {
				create(d.TokenFile, false)
				if d.TLS != nil {
					create(d.TLS.CA, false)
					create(d.TLS.Cert, false)
					create(d.TLS.Key, false)
				}
			}
			for _, a := range p.Agents {
				create(a.TokenFile, false)
				if a.TLS != nil {
					create(a.TLS.CA, false)
					create(a.TLS.Cert, false)
					create(a.TLS.Key, false)
				}
			}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			if w := p.Warnings(); len(w) > 0 {
				t.Errorf("Warnings() = %q; an example should have none", w)
			}
			if !slices.ContainsFunc(offered, func(b agent.BackendConfig) bool { return b.Name == p.Workload.Backend }) {
				t.Errorf("backend %q is offered neither by configs/agent.yaml nor by an agent without one", p.Workload.Backend)
			}
		})
	}
	for _, want := range []string{"default.yaml", "vgpu-vs-baremetal.yaml", "passthrough-vs-baremetal.yaml", "nightly-regression.yaml", "fleet-discovery.yaml"} {
		if !slices.Contains(names, want) {
			t.Errorf("configs/%s is missing", want)
		}
	}
}

func TestDefaultPlan(t *testing.T) {
	p, err := ParsePlan("default.yaml", configs.DefaultPlan())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if w := p.Warnings(); len(w) > 0 {
		t.Errorf("Warnings() = %q", w)
	}
	want := &Plan{
		Version: "v1",
		Agents: []AgentSpec{
			{Name: "baseline", Address: AddressEmbedded, Role: RoleBaseline, Host: "localhost"},
			{Name: "candidate", Address: AddressEmbedded, Role: RoleCandidate, Host: "localhost"},
		},
		Workload:    Workload{Backend: "cpu", Model: "resnet50", Settings: map[string]any{"server_target_latency_ns": 10000000000}},
		Scenarios:   []string{"offline", "single-stream", "server"},
		Profile:     "quick",
		Repetitions: 4,
		Order:       OrderInterleaved,
		Retries:     1,
		Thresholds:  Thresholds{MinRetainedPct: 95, EquivalenceMarginPct: 3},
		Output:      "./gpuperf-results",
		Neighbours:  NeighboursUnknown,
		Server:      ServerSpec{OfflineFraction: 0.5},
		// The cap of repetitions: auto, unused at a fixed count.
		MaxRepetitions: 20,
		Watchdog:       "30s",
		source:         "default.yaml",
		overridden:     map[string]bool{},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("default plan =\n%+v\nwant\n%+v", p, want)
	}
	for _, a := range p.Agents {
		if !a.Embedded() {
			t.Errorf("agent %s is not embedded", a.Name)
		}
	}
	// Both embedded agents share this machine: parallel must be refused.
	p.Order = OrderParallel
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "agents on one machine would measure each other") {
		t.Errorf("parallel default plan: Validate() = %v", err)
	}
}

func TestApplySettings(t *testing.T) {
	p, err := ParsePlan("plan.yaml", []byte(planYAML(map[string]string{
		"workload": "{backend: cpu, settings: {min_duration_ms: 2000, server_target_qps: 100, server_target_latency_ns: 1e8, print_timestamps: true, server_find_peak_qps_decimals_of_precision: 2, schedule_rng_seed: 16159082839903944936}}",
	})))
	if err != nil {
		t.Fatal(err)
	}
	s := inference.DefaultTestSettings()
	if err := p.Workload.ApplySettings(&s); err != nil {
		t.Fatal(err)
	}
	want := inference.DefaultTestSettings()
	want.MinDurationMs = 2000
	want.ServerTargetQPS = 100
	want.ServerTargetLatencyNs = 100_000_000
	want.PrintTimestamps = true
	want.ServerFindPeakQPSDecimalsOfPrecision = 2
	want.ScheduleRNGSeed = inference.OfficialScheduleSeed
	if s != want {
		t.Errorf("ApplySettings =\n%+v\nwant\n%+v", s, want)
	}

	w := Workload{Settings: map[string]any{"warmup": 1, "drain_timeout_ms": 1.5}}
	err = w.ApplySettings(&s)
	for _, want := range []string{
		"workload.settings.drain_timeout_ms: want a non-negative integer, got 1.5",
		"workload.settings.warmup: unknown test setting; did you mean warmup_ms?",
	} {
		if !strings.Contains(fmtErr(err), want) {
			t.Errorf("ApplySettings = %v; want %q", err, want)
		}
	}
}

func TestLoadPlanMissingFile(t *testing.T) {
	_, err := LoadPlan(filepath.Join(t.TempDir(), "nope.yaml"), nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadPlan(missing) = %v; want ErrNotExist", err)
	}
}
