package coordinator

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/results"
)

// CalibrationRuns is how many short measurements calibration takes per
// scenario on the baseline; it keeps their median. On a busy host one
// measurement can be off by a factor of six (4,970 against 32,511
// samples/s on the same machine minutes apart); the median of five is off
// only when three of them are.
const (
	CalibrationRuns = 5
	// Each measurement is a quarter of the profile's min_duration, between
	// these bounds: long enough to average over the scheduler's time
	// slices, short enough that five cost less than one timed run.
	calibrationMinDuration = time.Second
	calibrationMaxDuration = 5 * time.Second
	// Measurements after the first warm up for at most this long: the
	// first has warmed the device, each later one only needs its new
	// backend session settled.
	calibrationRewarm = 500 * time.Millisecond
)

// calibrationSettings shortens a scenario's settings into one calibration
// measurement: sized by time alone, so a slow backend is not held to a
// query count meant for a full run.
func calibrationSettings(s inference.TestSettings, first bool) inference.TestSettings {
	d := min(max(s.MinDuration()/4, calibrationMinDuration), calibrationMaxDuration, max(s.MinDuration(), time.Millisecond))
	s.MinDurationMs = uint64(d / time.Millisecond)
	s.MaxDurationMs = 0
	s.MinQueryCount, s.MaxQueryCount = 1, 0
	if !first {
		s.WarmupMs = min(s.WarmupMs, uint64(calibrationRewarm/time.Millisecond))
	}
	return s
}

// calibrateScenario measures sc on the baseline CalibrationRuns times and
// returns the median and the fastest measurement: Offline's samples per
// second (fastest: the highest), or SingleStream's and MultiStream's median
// query latency in ns (fastest: the lowest; a busy host only ever adds
// latency, so the lowest is the nearest to the device's own). The manifest
// records the median, the spread and each measurement.
func (r *Runner) calibrateScenario(ctx context.Context, base *agentConn, sc inference.Scenario, settings map[inference.Scenario]inference.TestSettings, m *results.Manifest) (med, fastest float64, err error) {
	s, _, err := inference.Settings(r.Plan.Workload.Model, sc, inference.Profile(r.Plan.Profile))
	if err != nil {
		return 0, 0, err
	}
	if cur, ok := settings[sc]; ok {
		s = cur
	} else if err := r.Plan.Workload.ApplySettings(&s); err != nil {
		return 0, 0, err
	}
	var got []float64
	for k := range CalibrationRuns {
		cs := calibrationSettings(s, k == 0)
		autoHint := k == 0
		if k > 0 {
			// Later measurements are sized by the median so far, so none
			// depends on its own short warm-up.
			med := median(got)
			switch sc {
			case inference.Offline:
				cs.OfflineExpectedQPS = med * offlineHeadroom
			case inference.SingleStream:
				cs.SingleStreamExpectedLatencyNs = med
			case inference.MultiStream:
				cs.MultiStreamExpectedLatencyNs = med
			}
		}
		rec := results.RunRecord{Host: base.spec.Name, Role: "calibration", Scenario: sc.String(), Repetition: k}
		r.display().RunStarted(rec)
		res, _, err := r.request(ctx, job{agent: base, scenario: sc, rep: k}, cs, rec, autoHint)
		if err == nil {
			rec.Status, rec.Valid, rec.Metric, rec.Value, rec.Unit = results.StatusOK, res.Validity.Valid, res.Metric.Name, res.Metric.Value, res.Metric.Unit
		} else {
			rec.Status, rec.Error = results.StatusFailed, err.Error()
		}
		r.display().RunFinished(rec)
		if err != nil {
			return 0, 0, err
		}
		v := res.SamplesPerSecond
		if sc != inference.Offline {
			// The median query latency, not the mean: on a busy host a few
			// stalled queries raise the mean many times over, and a count
			// sized by it runs out long before min_duration.
			lat := res.Latency
			if res.QueryLatency != nil {
				lat = *res.QueryLatency
			}
			v = medianLatency(lat)
		}
		if !(v > 0) {
			what := "throughput"
			if sc != inference.Offline {
				what = "latency"
			}
			return 0, 0, fmt.Errorf("the %s calibration measured no %s", sc, what)
		}
		got = append(got, v)
	}
	med = median(got)
	fastest = slices.Max(got)
	if sc != inference.Offline {
		fastest = slices.Min(got)
	}
	key := "offline_measured_qps"
	if sc != inference.Offline {
		key = sc.Flag() + "_measured_latency_ns"
	}
	m.Calibration[key] = med
	m.Calibration[key+"_min"] = slices.Min(got)
	m.Calibration[key+"_max"] = slices.Max(got)
	for k, v := range got {
		m.Calibration[fmt.Sprintf("%s_%d", key, k+1)] = v
	}
	r.Logger.Info("calibrated", "scenario", sc, "median", med, "min", slices.Min(got), "max", slices.Max(got), "runs", len(got))
	return med, fastest, nil
}

// medianLatency is a run's 50th-percentile latency in ns, or its mean when
// it reports no such percentile.
func medianLatency(l inference.LatencyStats) float64 {
	for _, p := range l.Percentiles {
		if p.P == 0.5 && p.Ns > 0 {
			return float64(p.Ns)
		}
	}
	return float64(l.MeanNs)
}

// median of a non-empty sample (the mean of the middle two for an even
// count).
func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
