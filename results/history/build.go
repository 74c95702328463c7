package history

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/results"
)

// AddComparison fills the record's comparison, each side's hosts and
// names, and every repetition's metric from c. The comparison is read
// through its public fields only; each scenario's own JSON is kept beside
// the extracted columns, so fields added to the comparison are not lost.
func (r *Record) AddComparison(c *results.Comparison) error {
	gate, err := json.Marshal(c.Gate)
	if err != nil {
		return err
	}
	cmp := &Comparison{GateMode: c.Gate.Mode, GateOutcome: c.Gate.Outcome, Gate: gate}
	if c.Settings.MinRetainedPct > 0 {
		cmp.MinRetainedPct = ptr(c.Settings.MinRetainedPct)
	}
	if c.Settings.MarginPct > 0 {
		cmp.MarginPct = ptr(c.Settings.MarginPct)
	}
	for _, s := range c.Scenarios {
		detail, err := json.Marshal(s)
		if err != nil {
			return err
		}
		sc := Scenario{
			Benchmark: s.Benchmark, Scenario: s.Scenario, Metric: s.Metric.Name, Unit: s.Metric.Unit,
			HigherIsBetter: s.Metric.HigherIsBetter, Status: s.Status, Pairing: s.Pairing,
			RetainedPct: s.RetainedPct, BaselineValue: s.Baseline.Geomean, CandidateValue: s.Candidate.Geomean,
			BaselineN: s.Baseline.Counted, CandidateN: s.Candidate.Counted,
			Verdict: s.Verdict, GateOutcome: s.Gate.Outcome, GateExit: s.Gate.ExitCode, Detail: detail,
		}
		if iv := s.Interval; iv != nil {
			sc.LowPct, sc.HighPct, sc.Confidence, sc.Method = ptr(iv.LowPct), ptr(iv.HighPct), ptr(iv.Confidence), iv.Method
		}
		cmp.Scenarios = append(cmp.Scenarios, sc)
		for _, side := range []struct {
			role string
			v    results.SideValues
		}{{results.RoleBaseline, s.Baseline}, {results.RoleCandidate, s.Candidate}} {
			for _, rep := range side.v.Runs {
				r.Metrics = append(r.Metrics, repMetric(s.Benchmark, s.Scenario, side.role, s.Metric, rep))
			}
		}
	}
	r.Comparison = cmp
	r.Hosts = nil
	r.addSide(c.Baseline)
	r.addSide(c.Candidate)
	return nil
}

func repMetric(bench, scenario, role string, m results.Metric, rep results.Repetition) Metric {
	out := Metric{
		Benchmark: bench, Scenario: scenario, Role: role, Host: rep.Host, Repetition: rep.Repetition,
		Name: m.Name, Unit: m.Unit, HigherIsBetter: m.HigherIsBetter,
		Valid: rep.Valid, Counted: rep.Counted, Status: rep.Status, Dir: rep.Dir,
	}
	if rep.Status == results.StatusOK && rep.RawValue != 0 {
		out.Value = ptr(rep.RawValue)
	}
	return out
}

// addSide records a side's hosts, name and pool.
func (r *Record) addSide(s results.Side) {
	var hosts []Host
	for _, hi := range s.Hosts {
		hosts = append(hosts, hostOf(hi, s.Role))
	}
	r.Hosts = append(r.Hosts, hosts...)
	name, pool := s.Name, poolOf(hosts)
	if s.Role == results.RoleBaseline {
		r.BaselineName, r.BaselinePool = name, pool
	} else {
		r.CandidateName, r.CandidatePool = name, pool
	}
	if r.Round == "" {
		r.Round, r.Submitter = s.Round, s.Submitter
	}
	if r.RunID == "" {
		r.RunID = s.RunID
	}
}

// AddSource fills the record's hosts, side name and metrics from one
// side read on its own (a published MLPerf system, or a tree's side).
func (r *Record) AddSource(src *results.Source) {
	r.addSide(src.Side)
	for _, run := range src.Runs() {
		r.Metrics = append(r.Metrics, repMetric(run.Benchmark, run.Scenario, src.Side.Role, run.Metric, run.Rep))
		if r.Model == "" {
			r.Model = run.Benchmark
		}
	}
}

// AddBench fills a bench record from its result: the one run's metric and
// the local machine as the candidate.
func (r *Record) AddBench(host string, res *inference.Result) {
	r.Model, r.Backend, r.Profile = res.Model, res.Backend, string(res.Profile)
	m := Metric{
		Benchmark: res.Model, Scenario: res.Effective.Scenario.String(), Role: results.RoleCandidate, Host: host, Repetition: 1,
		Name: res.Metric.Name, Unit: res.Metric.Unit, HigherIsBetter: res.Metric.HigherIsBetter,
		Valid: res.Validity.Valid, Counted: true, Status: results.StatusOK,
	}
	if res.Metric.Value != 0 {
		m.Value = ptr(res.Metric.Value)
	}
	r.Metrics = append(r.Metrics, m)
	r.CandidateName = host
	h := Host{Name: host, Role: results.RoleCandidate, Hostname: host}
	if len(res.Telemetry) > 0 {
		var tel struct {
			Devices []struct {
				Name string `json:"name"`
			} `json:"devices"`
		}
		if json.Unmarshal(res.Telemetry, &tel) == nil && len(tel.Devices) > 0 {
			h.Accelerator, h.GPUs = tel.Devices[0].Name, len(tel.Devices)
		}
	}
	r.Hosts = append(r.Hosts, h)
	r.CandidatePool = poolOf([]Host{h})
}

// fingerprintFields are the parts of a host fingerprint (gpu.Fingerprint,
// or a published system description) the history indexes.
type fingerprintFields struct {
	Hostname       string `json:"hostname"`
	Virtualization struct {
		Verdict struct {
			Kind string `json:"kind"`
		} `json:"verdict"`
	} `json:"virtualization"`
	GPUs []struct {
		Name string `json:"name"`
	} `json:"gpus"`
	Labels map[string]string `json:"labels"`
}

func hostOf(hi results.HostInfo, role string) Host {
	h := Host{Name: hi.Name, Role: role, Accelerator: hi.Accelerator, GPUs: hi.GPUs, Fingerprint: hi.Fingerprint}
	if len(hi.Fingerprint) == 0 {
		return h
	}
	var fp fingerprintFields
	if json.Unmarshal(hi.Fingerprint, &fp) == nil {
		h.Hostname = fp.Hostname
		h.Virtualization = fp.Virtualization.Verdict.Kind
		h.Labels = fp.Labels
		if h.Accelerator == "" && len(fp.GPUs) > 0 {
			h.Accelerator = fp.GPUs[0].Name
		}
	}
	if hi.SystemName != "" && h.Hostname == "" {
		h.Hostname = hi.SystemName
	}
	h.FingerprintHash = fingerprintHash(hi.Fingerprint)
	return h
}

// fingerprintHash digests a fingerprint without the moment it was
// collected, so two runs on an unchanged machine hash alike.
func fingerprintHash(raw json.RawMessage) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	delete(m, "collected_at")
	b, err := json.Marshal(m) // map keys sorted: a canonical form
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// poolOf names what a side's hosts are: the distinct virtualization/GPU
// pairs (a "pool" label, when a host carries one, instead).
func poolOf(hosts []Host) string {
	var kinds []string
	for _, h := range hosts {
		k := h.Labels["pool"]
		if k == "" {
			parts := []string{}
			for _, p := range []string{h.Virtualization, h.Accelerator} {
				if p != "" {
					parts = append(parts, p)
				}
			}
			k = strings.Join(parts, "/")
		}
		if k != "" && !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	slices.Sort(kinds)
	return strings.Join(kinds, ", ")
}

func ptr[T any](v T) *T { return &v }
