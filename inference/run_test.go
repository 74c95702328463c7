package inference_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
)

// inlineBackend completes every sample inside IssueQuery.
type inlineBackend struct{ rec *inference.Recorder }

func (b *inlineBackend) Name() string { return "inline" }
func (b *inlineBackend) Start(_ context.Context, rec *inference.Recorder) error {
	b.rec = rec
	return nil
}
func (b *inlineBackend) IssueQuery(s []inference.Sample) {
	for _, x := range s {
		b.rec.Complete(inference.Response{ID: x.ID})
	}
}
func (b *inlineBackend) FlushQueries() {}
func (b *inlineBackend) Stop() error   { return nil }

// sleepBackend completes each sample after a fixed delay on its own
// goroutine, or never when hang is set.
type sleepBackend struct {
	rec   *inference.Recorder
	delay time.Duration
	hang  bool
	wg    sync.WaitGroup
}

func (b *sleepBackend) Name() string { return "sleep" }
func (b *sleepBackend) Start(_ context.Context, rec *inference.Recorder) error {
	b.rec = rec
	return nil
}
func (b *sleepBackend) IssueQuery(s []inference.Sample) {
	if b.hang {
		return
	}
	ids := make([]uint64, len(s))
	for i, x := range s {
		ids[i] = x.ID
	}
	b.wg.Go(func() {
		time.Sleep(b.delay)
		for _, id := range ids {
			b.rec.Complete(inference.Response{ID: id})
		}
	})
}
func (b *sleepBackend) FlushQueries() {}
func (b *sleepBackend) Stop() error   { b.wg.Wait(); return nil }

func quickConfig(t *testing.T, sc inference.Scenario) inference.Config {
	t.Helper()
	s, qsl, err := inference.Settings("resnet50", sc, inference.ProfileQuick)
	if err != nil {
		t.Fatal(err)
	}
	s.MinDurationMs = 300
	s.WarmupMs = 0
	return inference.Config{Settings: s, QSL: qsl, Model: "resnet50", Profile: inference.ProfileQuick}
}

func TestRunNullAllScenarios(t *testing.T) {
	for _, sc := range inference.Scenarios {
		t.Run(sc.String(), func(t *testing.T) {
			cfg := quickConfig(t, sc)
			cfg.Settings.ServerTargetQPS = 20000
			// The flow is tested, not the bound: 1 s holds at the
			// generator stalls of a loaded 2-core host.
			cfg.Settings.ServerTargetLatencyNs = uint64(time.Second)
			cfg.Settings.WarmupMs = 100
			cfg.AutoHint = sc != inference.Server
			// A 100 ms warm-up's rate is a loose hint on a busy host: the
			// agent and bench repeat a run its rate outran, and so does
			// this test.
			cfg.Rerun = true
			res, err := inference.Run(context.Background(), &inlineBackend{}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.SamplesComplete != res.SamplesIssued || res.SamplesIssued == 0 {
				t.Fatalf("completed %d of %d samples", res.SamplesComplete, res.SamplesIssued)
			}
			if !res.Validity.Valid {
				t.Fatalf("run INVALID: %+v errors %v", res.Validity, res.Errors)
			}
			if res.Metric.Value <= 0 {
				t.Fatalf("metric %+v", res.Metric)
			}
		})
	}
}

func TestDrainDeadlineEndsHungRun(t *testing.T) {
	for _, sc := range []inference.Scenario{inference.Offline, inference.Server, inference.SingleStream} {
		t.Run(sc.String(), func(t *testing.T) {
			cfg := quickConfig(t, sc)
			cfg.Settings.ServerTargetQPS = 1000
			cfg.Settings.OfflineExpectedQPS = 1000
			cfg.Settings.DrainTimeoutMs = 200
			start := time.Now()
			res, err := inference.Run(context.Background(), &sleepBackend{hang: true}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("hung run took %s", time.Since(start))
			}
			if res.Validity.Valid {
				t.Fatal("a run with no completions is VALID")
			}
			if res.SamplesComplete != 0 || res.SamplesIssued == 0 {
				t.Fatalf("issued %d completed %d", res.SamplesIssued, res.SamplesComplete)
			}
			if len(res.Errors) == 0 {
				t.Fatal("no error recorded for incomplete samples")
			}
		})
	}
}

// seededBackend is inlineBackend with randomness of its own and options it
// can state.
type seededBackend struct {
	inlineBackend
	set int
}

func (b *seededBackend) Reseed(set int) uint64 {
	b.set = set
	return inference.DeriveSeed(42, set)
}
func (b *seededBackend) EffectiveOptions() map[string]string { return map[string]string{"seed": "42"} }

// Run hands the run's seed set to a Reseeder before it starts and records
// the set, the seed drawn and the effective options; UseSeedSet moves the
// LoadGen seeds, leaving set 0 as configured.
func TestRunSeedSet(t *testing.T) {
	cfg := quickConfig(t, inference.Offline)
	cfg.Settings.OfflineExpectedQPS = 1000
	cfg.SeedSet = 3
	b := &seededBackend{}
	res, err := inference.Run(context.Background(), b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if b.set != 3 || res.SeedSet != 3 || res.BackendSeed == nil || *res.BackendSeed != inference.DeriveSeed(42, 3) || res.BackendEffective["seed"] != "42" {
		t.Errorf("set %d, result set %d, seed %v, options %v", b.set, res.SeedSet, res.BackendSeed, res.BackendEffective)
	}
	s := cfg.Settings
	s.UseSeedSet(0)
	if s != cfg.Settings {
		t.Error("seed set 0 changed the seeds")
	}
	s.UseSeedSet(2)
	if s.ScheduleRNGSeed == cfg.Settings.ScheduleRNGSeed || s.QSLRNGSeed == cfg.Settings.QSLRNGSeed || s.SampleIndexRNGSeed == cfg.Settings.SampleIndexRNGSeed {
		t.Error("seed set 2 kept a seed")
	}
}
