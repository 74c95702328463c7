package mlperflog

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/internal/golden"
)

func summaryOf(t *testing.T, r *inference.Result) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteSummary(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			r := c.make()
			golden.Check(t, c.name+".summary.txt", []byte(summaryOf(t, r)))
			golden.Check(t, c.name+".detail.txt", []byte(detailOf(t, r)))
		})
	}
}

// requireLines asserts that want appears in text as consecutive whole lines.
func requireLines(t *testing.T, text string, want ...string) {
	t.Helper()
	block := "\n" + strings.Join(want, "\n") + "\n"
	if !strings.Contains("\n"+text, block) {
		t.Errorf("summary lacks the lines\n%s\nin\n%s", strings.Join(want, "\n"), text)
	}
}

func forbidLine(t *testing.T, text, prefix string) {
	t.Helper()
	for l := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			t.Errorf("unexpected line %q", l)
		}
	}
}

const ruleLine = "================================================"

// TestOfflineExample checks reference/loadgen.md §8.1's Offline example line
// for line, plus the section framing and trailer.
func TestOfflineExample(t *testing.T) {
	s := summaryOf(t, offlineResult())
	if len(ruleLine) != 48 {
		t.Fatal("rule is not 48 characters")
	}
	requireLines(t, s,
		ruleLine,
		"MLPerf Results Summary",
		ruleLine,
		"SUT name : ScratchQueueSUT",
		"Scenario : Offline",
		"Mode     : PerformanceOnly",
		"Samples per second: 2499.98",
		"Result is : VALID",
		"  Min duration satisfied : Yes",
		"  Min queries satisfied : Yes",
		"  Early stopping satisfied: Yes",
		"",
		ruleLine,
		"Additional Stats",
		ruleLine,
		"Min latency (ns)                : 524123",
		"Max latency (ns)                : 11000091106",
		"Mean latency (ns)               : 5500294813",
		"50.00 percentile latency (ns)   : 5500487422",
		"90.00 percentile latency (ns)   : 9900490038",
		"95.00 percentile latency (ns)   : 10450484282",
		"97.00 percentile latency (ns)   : 10670546524",
		"99.00 percentile latency (ns)   : 10890614862",
		"99.90 percentile latency (ns)   : 10989292528",
		"",
		ruleLine,
		"Test Parameters Used",
		ruleLine,
		"samples_per_query : 27500",
		"target_qps : 2500",
		"target_latency (ns): 0",
		"max_async_queries : 1",
		"min_duration (ms): 10000",
		"max_duration (ms): 0",
		"min_query_count : 1",
		"max_query_count : 0",
		"qsl_rng_seed : 2085463073848966840",
		"sample_index_rng_seed : 2747215439041700203",
		"schedule_rng_seed : 16159082839903944936",
		"accuracy_log_rng_seed : 0",
		"accuracy_log_probability : 0",
		"accuracy_log_sampling_target : 0",
		"print_timestamps : 0",
		"performance_issue_unique : 0",
		"performance_issue_same : 0",
		"performance_issue_same_index : 0",
		"performance_sample_count : 1024",
		"accuracy_sample_count : 50000",
		"",
		"No warnings encountered during test.",
		"",
		"No errors encountered during test.",
	)
	if !strings.HasPrefix(s, ruleLine+"\n") || !strings.HasSuffix(s, "No errors encountered during test.\n") {
		t.Error("summary does not start with the rule or end with the error trailer")
	}
	forbidLine(t, s, "Early Stopping Result")
	forbidLine(t, s, "  Performance constraints satisfied")
	forbidLine(t, s, "WARNING")
	// Every latency label puts ": " at column 33, as LoadGen pads them.
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, "latency (ns)  ") || strings.HasPrefix(l, "Min latency") {
			if i := strings.Index(l, ": "); i != 32 {
				t.Errorf("%q: colon at column %d, want 33", l, i+1)
			}
		}
	}
}

// TestServerExample checks reference/loadgen.md §8.1's Server example.
func TestServerExample(t *testing.T) {
	s := summaryOf(t, serverResult())
	requireLines(t, s,
		"SUT name : ScratchQueueSUT",
		"Scenario : Server",
		"Mode     : PerformanceOnly",
		"Completed samples per second    : 1519.09",
		"Result is : VALID",
		"  Performance constraints satisfied : Yes",
		"  Min duration satisfied : Yes",
		"  Min queries satisfied : Yes",
		"  Early stopping satisfied: Yes",
		"Early Stopping Result:",
		" * Run successful.",
		"",
		ruleLine,
		"Additional Stats",
		ruleLine,
		"Scheduled samples per second : 1519.25",
		"Min latency (ns)                : 433490",
		"Max latency (ns)                : 10529540",
		"Mean latency (ns)               : 1075930",
		"50.00 percentile latency (ns)   : 766958",
		"90.00 percentile latency (ns)   : 1737726",
		"95.00 percentile latency (ns)   : 2604559",
		"97.00 percentile latency (ns)   : 4329549",
		"99.00 percentile latency (ns)   : 5960936",
		"99.90 percentile latency (ns)   : 8621628",
		"",
		ruleLine,
		"Test Parameters Used",
		ruleLine,
		"samples_per_query : 1",
		"target_qps : 1500",
		"target_latency (ns): 15000000",
		"max_async_queries : 0",
		"min_duration (ms): 10000",
		"max_duration (ms): 0",
		"min_query_count : 100",
		"max_query_count : 0",
		"qsl_rng_seed : 2085463073848966840",
	)
	forbidLine(t, s, "Recommendations:")
}

func TestServerInvalid(t *testing.T) {
	s := summaryOf(t, serverInvalidResult())
	requireLines(t, s,
		"Completed samples per second    : 2498.78",
		"Result is : INVALID",
		"  Performance constraints satisfied : NO",
		"  Min duration satisfied : Yes",
		"  Min queries satisfied : Yes",
		"  Early stopping satisfied: NO",
		"Recommendations:",
		" * Reduce target QPS to improve latency.",
		"Early Stopping Result:",
		" * Run unsuccessful.",
		" * Processed 27270 queries.",
		" * Would need to run at least 1321386 more queries,",
		" with the run being successful if every additional",
		" query were under latency.",
		"",
		ruleLine,
		"Additional Stats",
		ruleLine,
		"Scheduled samples per second : 2726.87",
	)
}

func TestServerTokens(t *testing.T) {
	s := summaryOf(t, serverTokenResult())
	requireLines(t, s,
		"Completed samples per second    : 348.06",
		"Completed tokens per second: 50795.57",
		"Result is : VALID",
		"  Performance constraints satisfied : Yes",
		"  Min duration satisfied : Yes",
		"  Min queries satisfied : Yes",
		"  Early stopping satisfied: Yes",
		"TTFT Early Stopping Result:",
		" * Run successful.",
		"TPOT Early Stopping Result:",
		" * Run successful.",
		"",
	)
	requireLines(t, s,
		"Scheduled samples per second : 348.37",
		"Min latency (ns)                : 64307211",
	)
	requireLines(t, s,
		"99.90 percentile latency (ns)   : 102683836329",
		"",
		"Completed tokens per second                 : 50795.57",
		"Min First Token latency (ns)                : 23133523",
		"Max First Token latency (ns)                : 3386784297",
		"Mean First Token latency (ns)               : 180021403",
		"50.00 percentile first token latency (ns)   : 154281665",
		"90.00 percentile first token latency (ns)   : 285303834",
		"95.00 percentile first token latency (ns)   : 337075470",
		"97.00 percentile first token latency (ns)   : 380319335",
		"99.00 percentile first token latency (ns)   : 628885054",
		"99.90 percentile first token latency (ns)   : 1940936589",
		"",
		"Min Time per Output Token (ns)                : 10001287",
		"Max Time per Output Token (ns)                : 482959587",
		"Mean Time per Output Token (ns)               : 102590339",
		"50.00 percentile time to output token (ns)   : 102777619",
		"90.00 percentile time to output token (ns)   : 112472224",
		"95.00 percentile time to output token (ns)   : 115705198",
		"97.00 percentile time to output token (ns)   : 118020508",
		"99.00 percentile time to output token (ns)   : 123136641",
		"99.90 percentile time to output token (ns)   : 136325318",
		"",
		ruleLine,
		"Test Parameters Used",
		ruleLine,
		"samples_per_query : 1",
		"target_qps : 348",
		"ttft_latency (ns): 2000000000",
		"tpot_latency (ns): 200000000",
		"max_async_queries : 0",
		"min_duration (ms): 2400000",
	)
	requireLines(t, s,
		"performance_sample_count : 15000",
		"accuracy_sample_count : 15000",
		"WARNING: sample_concatenate_permutation was set to true. ",
		"Generated samples per query might be different as the one in the setting.",
		"Check the generated_samples_per_query line in the detailed log for the real",
		"samples_per_query value",
		"",
		"No warnings encountered during test.",
	)
	forbidLine(t, s, "target_latency (ns)")
	forbidLine(t, s, "Early Stopping Result:")
}

func TestSingleStreamSummary(t *testing.T) {
	s := summaryOf(t, singleStreamResult())
	requireLines(t, s,
		"Scenario : SingleStream",
		"Mode     : PerformanceOnly",
		"90.0th percentile latency (ns) : 1180342",
		"Result is : VALID",
		"  Min duration satisfied : Yes",
		"  Min queries satisfied : Yes",
		"  Early stopping satisfied: Yes",
		"Early Stopping Result:",
		" * Processed at least 64 queries (8828).",
		" * Would discard 816 highest latency queries.",
		" * Early stopping 90.0th percentile estimate: 1186004",
		" * Early stopping 99.0th percentile estimate: 1352119",
		"",
		ruleLine,
		"Additional Stats",
		ruleLine,
		"QPS w/ loadgen overhead         : 882.62",
		"QPS w/o loadgen overhead        : 892.84",
		"",
		"Min latency (ns)                : 1010233",
	)
	requireLines(t, s, "samples_per_query : 1", "target_qps : 1000", "target_latency (ns): 0", "max_async_queries : 1")
	forbidLine(t, s, "  Performance constraints satisfied")
}

func TestMultiStreamSummary(t *testing.T) {
	s := summaryOf(t, multiStreamResult())
	requireLines(t, s,
		"Scenario : MultiStream",
		"Mode     : PerformanceOnly",
		"99.0th percentile latency (ns) : 10600004",
		"Result is : VALID",
	)
	requireLines(t, s,
		"Early Stopping Result:",
		" * Processed at least 662 queries (1000).",
		" * Would discard 1 highest latency queries.",
		" * Early stopping 99.0th percentile estimate: 10650120",
		"",
		ruleLine,
		"Additional Stats",
		ruleLine,
		"Per-query latency:  ",
		"Min latency (ns)                : 9400126",
		"Max latency (ns)                : 11800412",
		"Mean latency (ns)               : 10000150",
		"50.00 percentile latency (ns)   : 9850337",
		"90.00 percentile latency (ns)   : 10100212",
		"95.00 percentile latency (ns)   : 10200049",
		"97.00 percentile latency (ns)   : 10300871",
		"99.00 percentile latency (ns)   : 10600004",
		"99.90 percentile latency (ns)   : 11500222",
		"",
		ruleLine,
		"Test Parameters Used",
		ruleLine,
		"samples_per_query : 8",
		"target_qps : 100",
	)
	// No per-sample block: the sample minimum must not appear.
	if strings.Contains(s, "9102744") {
		t.Error("MultiStream summary prints the per-sample latency block")
	}
}

func TestMinQueriesRecommendation(t *testing.T) {
	r := singleStreamResult()
	r.QueriesIssued, r.SamplesIssued, r.SamplesComplete = 40, 40, 40
	r.EarlyStopping = inference.EarlyStopping{Applies: true, Lines: []string{
		" * Only processed 40 queries.",
		" * Need to process at least 64 queries for early stopping.",
	}}
	r.Validity = inference.Validity{
		MinDurationMet: false, MinQueriesMet: false, EarlyStoppingMet: false,
		Recommendations: []string{
			"Decrease the expected latency so the loadgen pre-generates more queries.",
			inference.MinQueriesRecommendation,
		},
	}
	r.Errors = []string{"IssueQueryThread 0 Ending early: Max query count reached."}
	s := summaryOf(t, r)
	requireLines(t, s,
		"Result is : INVALID",
		"  Min duration satisfied : NO",
		"  Min queries satisfied : NO",
		"  Early stopping satisfied: NO",
		"Recommendations:",
		" * Decrease the expected latency so the loadgen pre-generates more queries.",
		" * The test exited early, before enough queries were issued.",
		"   See the detailed log for why this may have occurred.",
		"Early Stopping Result:",
		" * Only processed 40 queries.",
		" * Need to process at least 64 queries for early stopping.",
		"",
	)
	requireLines(t, s, "No warnings encountered during test.", "", "1 ERROR encountered. See detailed log.")

	m := parseDetailString(t, detailOf(t, r))
	if got := m["result_invalid_reason"]; got != "Decrease the expected latency so the loadgen pre-generates more queries. The test exited early, before enough queries were issued." {
		t.Errorf("result_invalid_reason = %q", got)
	}
}

func TestTrailerCounts(t *testing.T) {
	for _, c := range []struct {
		warnings, errors int
		w, e             string
	}{
		{0, 0, "No warnings encountered during test.", "No errors encountered during test."},
		{1, 1, "1 warning encountered. See detailed log.", "1 ERROR encountered. See detailed log."},
		{3, 2, "3 warnings encountered. See detailed log.", "2 ERRORS encountered. See detailed log."},
	} {
		r := offlineResult()
		for i := range c.warnings {
			r.Warnings = append(r.Warnings, "warning "+string(rune('a'+i)))
		}
		for i := range c.errors {
			r.Errors = append(r.Errors, "error "+string(rune('a'+i)))
		}
		s := summaryOf(t, r)
		if !strings.HasSuffix(s, "\n\n"+c.w+"\n\n"+c.e+"\n") {
			t.Errorf("%d warnings, %d errors: trailer is\n%s", c.warnings, c.errors, s[len(s)-100:])
		}
	}
}

func TestParseSummaryRoundTrip(t *testing.T) {
	for _, c := range goldenCases {
		r := c.make()
		m, err := ParseSummary(strings.NewReader(summaryOf(t, r)))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"SUT name":               r.SUTName,
			"Scenario":               r.Effective.Scenario.String(),
			"Mode":                   "PerformanceOnly",
			"Result is":              map[bool]string{true: "VALID", false: "INVALID"}[r.Validity.Valid],
			"Min duration satisfied": "Yes",
			"qsl_rng_seed":           "2085463073848966840",
			"schedule_rng_seed":      "16159082839903944936",
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s: %q = %q, want %q", c.name, k, m[k], v)
			}
		}
		if _, ok := headline(m); !ok {
			t.Errorf("%s: no headline in %v", c.name, m)
		}
		if _, ok := m["WARNING"]; ok {
			t.Errorf("%s: WARNING paragraph parsed as a label", c.name)
		}
	}
}

func TestParseSummaryTolerance(t *testing.T) {
	in := "\ufeff" + ruleLine + "\r\nSUT name : a : b\r\nSamples per second: 12.5\r\n" +
		"Early Stopping Result:\r\n * Early stopping 90.0th percentile estimate: 5\r\n" +
		"Mean latency (ns)               : 7\r\nMean latency (ns)               : 8\r\n"
	m, err := ParseSummary(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if m["SUT name"] != "a : b" || m["Samples per second"] != "12.5" || m["Mean latency (ns)"] != "7" {
		t.Errorf("parsed %v", m)
	}
	if _, ok := m["Early stopping 90.0th percentile estimate"]; ok {
		t.Error("bullet line parsed as a label")
	}
	if v, ok := m["Early Stopping Result"]; !ok || v != "" {
		t.Errorf("Early Stopping Result = %q, %v", v, ok)
	}
}

// headline returns the scenario's headline value from a parsed summary.
func headline(m map[string]string) (string, bool) {
	var labels []string
	switch m["Scenario"] {
	case "Offline":
		labels = []string{"Samples per second"}
	case "Server":
		// LoadGen ≥ 4.1 leads with completed, older ones with scheduled.
		labels = []string{"Completed samples per second", "Scheduled samples per second"}
	case "SingleStream":
		labels = []string{"90.0th percentile latency (ns)", "90th percentile latency (ns)"}
	case "MultiStream":
		labels = []string{"99.0th percentile latency (ns)", "99th percentile latency (ns)"}
	}
	for _, l := range labels {
		if v, ok := m[l]; ok && v != "" {
			return v, true
		}
	}
	return "", false
}
