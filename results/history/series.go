package history

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/gpuperf/gpuperf/results"
)

// What a series follows.
const (
	// MetricRetained: each comparison's retained % with its interval.
	MetricRetained = "retained"
	// MetricCandidate and MetricBaseline: a side's own metric, the
	// geometric mean of its valid repetitions with a 95% t interval.
	MetricCandidate = results.RoleCandidate
	MetricBaseline  = results.RoleBaseline
)

// How series are keyed.
const (
	ByHost = "host" // the sides' host names
	ByPool = "pool" // the sides' pools (virtualization and GPU, or a pool label)
)

// SeriesOptions choose the series.
type SeriesOptions struct {
	Filter
	Metric string
	By     string
}

// Series is one quantity over time for one benchmark, scenario and pair
// of sides.
type Series struct {
	Benchmark string `json:"benchmark"`
	Scenario  string `json:"scenario"`
	// PlanHash is the plan the runs share: runs of different plans (other
	// settings, scenarios or Server load) are never one series.
	PlanHash string `json:"plan_hash,omitempty"`
	// Baseline and Candidate are the sides' names (or pools); a side
	// series has only its own side.
	Baseline  string `json:"baseline,omitempty"`
	Candidate string `json:"candidate,omitempty"`
	// Quantity is MetricRetained, or the side whose metric this is.
	Quantity string `json:"quantity"`
	// Metric is the compared metric's name; Unit "%" for retained.
	Metric         string `json:"metric"`
	Unit           string `json:"unit"`
	HigherIsBetter bool   `json:"higher_is_better"`
	// MarginPct is the equivalence margin of the newest record that had
	// one.
	MarginPct *float64 `json:"margin_pct,omitempty"`
	Points    []Point  `json:"points"`
}

// Point is one record's value in a series.
type Point struct {
	Run   int64     `json:"run"`
	RunID string    `json:"run_id,omitempty"`
	Tree  string    `json:"tree,omitempty"`
	At    time.Time `json:"at"`
	Value float64   `json:"value"`
	// Low and High bound the 95% interval, when there is one.
	Low  *float64 `json:"low,omitempty"`
	High *float64 `json:"high,omitempty"`
	// N is the repetitions (pairs) behind the value.
	N           int    `json:"n"`
	Verdict     string `json:"verdict,omitempty"`
	GateOutcome string `json:"gate_outcome,omitempty"`
	Version     string `json:"gpuperf_version,omitempty"`
}

// Name says which series this is, in words.
func (s Series) Name() string {
	pair := s.Candidate
	switch {
	case s.Quantity == MetricRetained:
		pair = s.Candidate + " vs " + s.Baseline
	case s.Quantity == MetricBaseline:
		pair = s.Baseline
	}
	q := "retained %"
	if s.Quantity != MetricRetained {
		q = s.Metric + " (" + s.Unit + ")"
	}
	return fmt.Sprintf("%s %s, %s: %s", s.Benchmark, s.Scenario, pair, q)
}

type seriesKey struct {
	plan, bench, scenario, metric, base, cand string
}

// Series returns the series the options select, oldest point first, each
// record contributing at most one point per series. A tree recorded more
// than once (gpuperf run, then gpuperf compare TREE) counts once: its
// newest record.
func (s *Store) Series(ctx context.Context, o SeriesOptions) ([]Series, error) {
	switch o.Metric {
	case "", MetricRetained:
		o.Metric = MetricRetained
	case MetricCandidate, MetricBaseline:
	default:
		return nil, fmt.Errorf("series: metric must be %s, %s or %s, got %q", MetricRetained, MetricCandidate, MetricBaseline, o.Metric)
	}
	switch o.By {
	case "":
		o.By = ByHost
	case ByHost, ByPool:
	default:
		return nil, fmt.Errorf("series: group by %s or %s, got %q", ByHost, ByPool, o.By)
	}
	f := o.Filter
	f.Limit = 0
	if o.Metric == MetricRetained {
		f.Kinds = intersectKinds(f.Kinds, []string{KindCompare, KindImport})
	}
	recs, err := s.List(ctx, f)
	if err != nil {
		return nil, err
	}
	// List is newest first; the first record of a tree is its newest.
	seenTree := map[string]bool{}
	series := map[seriesKey]*Series{}
	for _, r := range recs {
		base, cand := r.BaselineName, r.CandidateName
		if o.By == ByPool {
			base, cand = r.BaselinePool, r.CandidatePool
		}
		add := func(k seriesKey, mk func() *Series, p Point) {
			if r.Tree != "" {
				tk := r.Tree + "\x00" + k.plan + "\x00" + k.bench + "\x00" + k.scenario + "\x00" + k.metric + "\x00" + k.base + "\x00" + k.cand
				if seenTree[tk] {
					return
				}
				seenTree[tk] = true
			}
			sr := series[k]
			if sr == nil {
				sr = mk()
				series[k] = sr
			}
			if sr.MarginPct == nil && r.Comparison != nil && r.Comparison.MarginPct != nil {
				sr.MarginPct = r.Comparison.MarginPct
			}
			p.Run, p.RunID, p.Tree, p.At, p.Version = r.ID, r.RunID, r.Tree, r.StartedAt, r.Version
			sr.Points = append(sr.Points, p)
		}
		if o.Metric == MetricRetained {
			if r.Comparison == nil {
				continue
			}
			for _, sc := range r.Comparison.Scenarios {
				if sc.RetainedPct == nil || !o.matchScenario(sc.Benchmark, sc.Scenario) || (o.Verdict != "" && sc.Verdict != o.Verdict) {
					continue
				}
				k := seriesKey{r.PlanHash, sc.Benchmark, sc.Scenario, sc.Metric, base, cand}
				p := Point{Value: *sc.RetainedPct, Low: sc.LowPct, High: sc.HighPct, N: min(sc.BaselineN, sc.CandidateN), Verdict: sc.Verdict, GateOutcome: sc.GateOutcome}
				add(k, func() *Series {
					return &Series{Benchmark: sc.Benchmark, Scenario: sc.Scenario, PlanHash: r.PlanHash, Baseline: base, Candidate: cand,
						Quantity: MetricRetained, Metric: sc.Metric, Unit: "%", HigherIsBetter: true}
				}, p)
			}
			continue
		}
		side := cand
		if o.Metric == MetricBaseline {
			// A stored baseline is a copy of an earlier run's
			// measurements: counting it again would repeat them.
			if r.BaselineRef != "" {
				continue
			}
			side = base
		}
		for _, g := range sideGroups(r, o.Metric) {
			if !o.matchScenario(g.bench, g.scenario) {
				continue
			}
			k := seriesKey{r.PlanHash, g.bench, g.scenario, g.metric, "", ""}
			if o.Metric == MetricBaseline {
				k.base = side
			} else {
				k.cand = side
			}
			p := g.point()
			p.GateOutcome = ""
			if r.Comparison != nil {
				p.GateOutcome = r.Comparison.GateOutcome
			}
			add(k, func() *Series {
				sr := &Series{Benchmark: g.bench, Scenario: g.scenario, PlanHash: r.PlanHash, Quantity: o.Metric, Metric: g.metric, Unit: g.unit, HigherIsBetter: g.higher}
				if o.Metric == MetricBaseline {
					sr.Baseline = side
				} else {
					sr.Candidate = side
				}
				return sr
			}, p)
		}
	}
	out := make([]Series, 0, len(series))
	for _, sr := range series {
		slices.SortStableFunc(sr.Points, func(a, b Point) int {
			return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Run, b.Run))
		})
		out = append(out, *sr)
	}
	slices.SortFunc(out, func(a, b Series) int {
		return cmp.Or(cmp.Compare(a.Benchmark, b.Benchmark), cmp.Compare(a.Scenario, b.Scenario),
			cmp.Compare(a.Candidate, b.Candidate), cmp.Compare(a.Baseline, b.Baseline), cmp.Compare(a.Metric, b.Metric), cmp.Compare(a.PlanHash, b.PlanHash))
	})
	return out, nil
}

func (o SeriesOptions) matchScenario(bench, scenario string) bool {
	if o.Benchmark != "" && !strings.EqualFold(bench, o.Benchmark) {
		return false
	}
	return o.Scenario == "" || scenario == ScenarioName(o.Scenario)
}

func intersectKinds(have, allowed []string) []string {
	if len(have) == 0 {
		return allowed
	}
	var out []string
	for _, k := range have {
		if slices.Contains(allowed, k) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return []string{"\x00none"}
	}
	return out
}

// sideGroup is one side's valid repetitions of one benchmark and scenario
// in one record.
type sideGroup struct {
	bench, scenario, metric, unit string
	higher                        bool
	logs                          []float64
}

func sideGroups(r *Record, role string) []*sideGroup {
	var out []*sideGroup
	idx := map[[3]string]*sideGroup{}
	compared := r.Comparison != nil && len(r.Comparison.Scenarios) > 0
	for _, m := range r.Metrics {
		if m.Role != role || m.Value == nil || !m.Valid || *m.Value <= 0 || (compared && !m.Counted) {
			continue
		}
		k := [3]string{m.Benchmark, m.Scenario, m.Name}
		g := idx[k]
		if g == nil {
			g = &sideGroup{bench: m.Benchmark, scenario: m.Scenario, metric: m.Name, unit: m.Unit, higher: m.HigherIsBetter}
			idx[k] = g
			out = append(out, g)
		}
		g.logs = append(g.logs, math.Log(*m.Value))
	}
	return out
}

// point is the geometric mean with its 95% t interval on the logs.
func (g *sideGroup) point() Point {
	n := len(g.logs)
	var sum float64
	for _, v := range g.logs {
		sum += v
	}
	mean := sum / float64(n)
	p := Point{Value: math.Exp(mean), N: n}
	if n >= 2 {
		var ss float64
		for _, v := range g.logs {
			ss += (v - mean) * (v - mean)
		}
		sd := math.Sqrt(ss / float64(n-1))
		t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}.Quantile(0.975)
		h := t * sd / math.Sqrt(float64(n))
		p.Low, p.High = ptr(math.Exp(mean-h)), ptr(math.Exp(mean+h))
	}
	return p
}
