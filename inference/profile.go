package inference

import (
	"fmt"
	"slices"
	"strings"
)

// Profile picks how long and how official a run is.
type Profile string

// The profiles. quick is for tests and demos; standard is a one-minute
// measurement; mlperf is mlperf.conf unchanged: 600 s, official seeds and
// counts.
const (
	ProfileQuick    Profile = "quick"
	ProfileStandard Profile = "standard"
	ProfileMLPerf   Profile = "mlperf"
)

// ParseProfile checks a profile name.
func ParseProfile(v string) (Profile, error) {
	switch p := Profile(strings.ToLower(v)); p {
	case ProfileQuick, ProfileStandard, ProfileMLPerf:
		return p, nil
	}
	return "", fmt.Errorf("unknown profile %q (want quick, standard or mlperf)", v)
}

// apply shortens a run for the non-official profiles. Seeds stay official in
// every profile, so runs of different lengths still share their schedules.
func (p Profile) apply(s *TestSettings) {
	switch p {
	case ProfileQuick:
		s.MinDurationMs = 2_000
		s.WarmupMs = 500
		if s.Scenario == Offline {
			// mlperf.conf's Offline minimum is a sample count (24576 for
			// resnet50); a quick run sizes its query from the duration.
			s.MinQueryCount = 1
		}
	case ProfileStandard:
		s.MinDurationMs = 60_000
		s.WarmupMs = 5_000
	case ProfileMLPerf:
		s.WarmupMs = 10_000
	}
}

// datasetSizes are the accuracy data-set sizes (LoadGen's TotalSampleCount)
// of the models whose size is public; others use their performance count.
var datasetSizes = map[string]uint64{
	"resnet50":      50000,
	"retinanet":     24781,
	"bert":          10833,
	"rnnt":          2513,
	"3d-unet":       43,
	"gptj":          13368,
	"llama2-70b":    24576,
	"mixtral-8x7b":  15000,
	"ssd-mobilenet": 5000,
}

// Models lists the model keys of the built-in mlperf.conf.
func Models() []string { return MLPerfConf().models() }

// Settings builds the requested settings for a model and scenario the way
// LoadGen's FromConfig does (defaults, then mlperf.conf), then applies the
// profile. Callers layer a user.conf and flags on top.
func Settings(model string, sc Scenario, p Profile) (TestSettings, QSL, error) {
	conf := MLPerfConf()
	if !slices.Contains(conf.models(), model) {
		return TestSettings{}, QSL{}, fmt.Errorf("unknown model %q (known: %s)", model, strings.Join(conf.models(), ", "))
	}
	s := DefaultTestSettings()
	s.Scenario = sc
	conf.Apply(&s, model, true)
	p.apply(&s)
	qsl := QSL{Name: model, PerformanceSampleCount: s.PerformanceSampleCountOverride}
	qsl.TotalSampleCount = datasetSizes[model]
	if qsl.PerformanceSampleCount == 0 {
		qsl.PerformanceSampleCount = max(qsl.TotalSampleCount, 1)
	}
	if qsl.TotalSampleCount == 0 {
		qsl.TotalSampleCount = qsl.PerformanceSampleCount
	}
	return s, qsl, nil
}
