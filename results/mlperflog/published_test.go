package mlperflog

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/internal/testpaths"
)

// publishedSummaries lists every published mlperf_log_summary.txt, or skips
// the test when the shared test data is not there.
func publishedSummaries(t *testing.T) []string {
	t.Helper()
	publishedDir := testpaths.MLPerf(t)
	var files []string
	err := filepath.WalkDir(publishedDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == SummaryFile {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no %s under %s", SummaryFile, publishedDir)
	}
	return files
}

func TestParseSummaryPublished(t *testing.T) {
	for _, p := range publishedSummaries(t) {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseSummary(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if v := m["Result is"]; v != "VALID" && v != "INVALID" {
			t.Errorf("%s: Result is = %q", p, v)
		}
		if want := filepath.Base(filepath.Dir(p)); m["Scenario"] != want {
			t.Errorf("%s: Scenario = %q, want %q", p, m["Scenario"], want)
		}
		h, ok := headline(m)
		if !ok {
			t.Errorf("%s: no headline in %v", p, m)
			continue
		}
		if _, err := strconv.ParseFloat(h, 64); err != nil {
			t.Errorf("%s: headline %q is not a number", p, h)
		}
		for _, k := range []string{"SUT name", "Mode", "Min duration satisfied", "Min queries satisfied",
			"Early stopping satisfied", "Min latency (ns)", "99.00 percentile latency (ns)",
			"samples_per_query", "target_qps", "qsl_rng_seed", "performance_sample_count"} {
			if m[k] == "" {
				t.Errorf("%s: no %q", p, k)
			}
		}
	}
}

// TestRerenderPublished rebuilds a Result from each published summary whose
// layout is current (every Offline one; Server from LoadGen 4.1, which moved
// completed samples/s into the headline), renders it again and requires the
// original bytes, up to what LoadGen changed since: the accuracy_sample_count
// line and "Time per Output Token" (PR #2360).
func TestRerenderPublished(t *testing.T) {
	n := 0
	for _, p := range publishedSummaries(t) {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		orig := strings.ReplaceAll(string(raw), "\r\n", "\n")
		m, err := ParseSummary(strings.NewReader(orig))
		if err != nil {
			t.Fatal(err)
		}
		if m["Scenario"] == "Server" {
			if _, ok := m["Completed samples per second"]; !ok || strings.Contains(orig, "\nScheduled samples per second : "+m["Scheduled samples per second"]+"\nResult is") {
				continue // LoadGen < 4.1 layout
			}
		}
		r := resultFromSummary(t, p, m, orig)
		got := summaryOf(t, r)
		got = strings.Replace(got, "accuracy_sample_count : 0\n", "", 1)
		if strings.Contains(orig, "Time to Output Token") {
			got = strings.ReplaceAll(got, "Time per Output Token", "Time to Output Token")
		}
		if got != orig {
			gl, ol := strings.Split(got, "\n"), strings.Split(orig, "\n")
			for i := range max(len(gl), len(ol)) {
				var g, o string
				if i < len(gl) {
					g = gl[i]
				}
				if i < len(ol) {
					o = ol[i]
				}
				if g != o {
					t.Errorf("%s line %d:\n got: %q\nwant: %q", p, i+1, g, o)
					break
				}
			}
		}
		n++
	}
	if n == 0 {
		t.Fatal("no published summary was re-rendered")
	}
	t.Logf("re-rendered %d published summaries byte for byte", n)
}

// resultFromSummary rebuilds the Result fields a summary prints.
func resultFromSummary(t *testing.T, path string, m map[string]string, text string) *inference.Result {
	t.Helper()
	u := func(k string) uint64 {
		v, err := strconv.ParseUint(m[k], 10, 64)
		if err != nil {
			t.Fatalf("%s: %s: %v", path, k, err)
		}
		return v
	}
	i := func(k string) int64 { return int64(u(k)) }
	f := func(k string) float64 {
		v, err := strconv.ParseFloat(m[k], 64)
		if err != nil {
			t.Fatalf("%s: %s: %v", path, k, err)
		}
		return v
	}
	block := func(minL, maxL, meanL, pctL string) inference.LatencyStats {
		ls := inference.LatencyStats{MinNs: i(minL), MaxNs: i(maxL), MeanNs: i(meanL)}
		for _, p := range []string{"50.00", "90.00", "95.00", "97.00", "99.00", "99.90"} {
			pv, _ := strconv.ParseFloat(p, 64)
			ls.Percentiles = append(ls.Percentiles, inference.Percentile{P: pv / 100, Ns: i(p + pctL)})
		}
		return ls
	}

	r := &inference.Result{SUTName: m["SUT name"]}
	e := &r.Effective
	if err := e.Scenario.UnmarshalText([]byte(m["Scenario"])); err != nil {
		t.Fatal(err)
	}
	if err := e.Mode.UnmarshalText([]byte(m["Mode"])); err != nil {
		t.Fatal(err)
	}
	_, tok := m["ttft_latency (ns)"]
	e.UseTokenLatencies = tok
	e.SamplesPerQuery = u("samples_per_query")
	e.TargetQPS = f("target_qps")
	if tok {
		e.ServerTTFTLatencyNs, e.ServerTPOTLatencyNs = u("ttft_latency (ns)"), u("tpot_latency (ns)")
	} else {
		e.TargetLatencyNs = u("target_latency (ns)")
	}
	e.MaxAsyncQueries = u("max_async_queries")
	e.MinDurationMs, e.MaxDurationMs = u("min_duration (ms)"), u("max_duration (ms)")
	e.MinQueryCount, e.MaxQueryCount = u("min_query_count"), u("max_query_count")
	e.QSLRNGSeed, e.SampleIndexRNGSeed, e.ScheduleRNGSeed = u("qsl_rng_seed"), u("sample_index_rng_seed"), u("schedule_rng_seed")
	e.AccuracyLogRNGSeed = u("accuracy_log_rng_seed")
	e.AccuracyLogProbability = f("accuracy_log_probability")
	e.AccuracyLogSamplingTarget = u("accuracy_log_sampling_target")
	e.PrintTimestamps = m["print_timestamps"] == "1"
	e.PerformanceIssueUnique = m["performance_issue_unique"] == "1"
	e.PerformanceIssueSame = m["performance_issue_same"] == "1"
	e.PerformanceIssueSameIndex = u("performance_issue_same_index")
	e.PerformanceSampleCount = u("performance_sample_count")
	e.SampleConcatenatePermutation = strings.Contains(text, "\nWARNING: sample_concatenate_permutation was set to true.")

	v := &r.Validity
	v.Valid = m["Result is"] == "VALID"
	if pc, ok := m["Performance constraints satisfied"]; ok {
		b := pc == "Yes"
		v.PerfConstraintsMet = &b
	}
	v.MinDurationMet = m["Min duration satisfied"] == "Yes"
	v.MinQueriesMet = m["Min queries satisfied"] == "Yes"
	v.EarlyStoppingMet = m["Early stopping satisfied"] == "Yes"

	r.Latency = block("Min latency (ns)", "Max latency (ns)", "Mean latency (ns)", " percentile latency (ns)")
	switch e.Scenario {
	case inference.Offline:
		r.SamplesPerSecond = f("Samples per second")
	case inference.Server:
		r.CompletedSamplesPerSecond = f("Completed samples per second")
		r.ScheduledSamplesPerSecond = f("Scheduled samples per second")
		if tok {
			r.EarlyStopping.TTFTLines = bullets(text, "TTFT Early Stopping Result:")
			r.EarlyStopping.TPOTLines = bullets(text, "TPOT Early Stopping Result:")
		} else {
			r.EarlyStopping.Lines = bullets(text, "Early Stopping Result:")
		}
	}
	if tok {
		ts := &inference.TokenStats{}
		if e.Scenario == inference.Offline {
			ts.TokensPerSecond = f("Tokens per second")
		} else {
			ts.CompletedTokensPerSec = f("Completed tokens per second")
			ts.FirstToken = block("Min First Token latency (ns)", "Max First Token latency (ns)",
				"Mean First Token latency (ns)", " percentile first token latency (ns)")
			word := "per"
			if _, ok := m["Min Time to Output Token (ns)"]; ok {
				word = "to"
			}
			ts.TimePerOutputToken = block("Min Time "+word+" Output Token (ns)", "Max Time "+word+" Output Token (ns)",
				"Mean Time "+word+" Output Token (ns)", " percentile time to output token (ns)")
		}
		r.Tokens = ts
	}
	r.Warnings = make([]string, trailerCount(t, text, `(\d+) warnings? encountered`))
	r.Errors = make([]string, trailerCount(t, text, `(\d+) ERRORS? encountered`))
	return r
}

// bullets returns the " * " lines (and their continuations) under title.
func bullets(text, title string) []string {
	_, rest, ok := strings.Cut(text, "\n"+title+"\n")
	if !ok {
		return nil
	}
	var out []string
	for l := range strings.SplitSeq(rest, "\n") {
		if !strings.HasPrefix(l, " ") {
			break
		}
		out = append(out, l)
	}
	return out
}

func trailerCount(t *testing.T, text, pattern string) int {
	t.Helper()
	mm := regexp.MustCompile(pattern).FindStringSubmatch(text)
	if mm == nil {
		return 0
	}
	n, err := strconv.Atoi(mm[1])
	if err != nil {
		t.Fatal(err)
	}
	return n
}
