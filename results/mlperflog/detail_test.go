package mlperflog

import (
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/inference"
)

// detailOf renders r's detail log with a fixed pid, as the golden files
// carry.
func detailOf(t *testing.T, r *inference.Result) string {
	t.Helper()
	if r == nil {
		t.Fatal("nil result")
	}
	return renderDetail(r, 4242)
}

func parseDetailString(t *testing.T, s string) map[string]any {
	t.Helper()
	m, err := ParseDetail(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// lineRE is LoadGen's MLLOG line layout, spacing included.
var lineRE = regexp.MustCompile(`^:::MLLOG \{"key": "[a-z0-9_.]+", "value": (.*), "time_ms": [0-9]+\.[0-9]{6}, ` +
	`"namespace": "mlperf::logging", "event_type": "POINT_IN_TIME", ` +
	`"metadata": \{"is_error": (true|false), "is_warning": (true|false), "file": "[^"]+", "line_no": 0, "pid": 4242, "tid": 0\}\}$`)

// TestDetailLines checks that every line has LoadGen's layout and parses as
// JSON after the ":::MLLOG " prefix, with its fields in LoadGen's order.
func TestDetailLines(t *testing.T) {
	for _, c := range goldenCases {
		d := detailOf(t, c.make())
		if !strings.HasSuffix(d, "\n") {
			t.Errorf("%s: no trailing newline", c.name)
		}
		for i, l := range strings.Split(strings.TrimSuffix(d, "\n"), "\n") {
			if !lineRE.MatchString(l) {
				t.Errorf("%s line %d has the wrong layout: %s", c.name, i+1, l)
				continue
			}
			obj := strings.TrimPrefix(l, mllogPrefix)
			var m map[string]any
			if err := json.Unmarshal([]byte(obj), &m); err != nil {
				t.Errorf("%s line %d is not JSON: %v: %s", c.name, i+1, err, obj)
				continue
			}
			if len(m) != 6 {
				t.Errorf("%s line %d has %d fields", c.name, i+1, len(m))
			}
			keys := jsonKeyOrder(t, obj)
			if !slices.Equal(keys, []string{"key", "value", "time_ms", "namespace", "event_type", "metadata"}) {
				t.Errorf("%s line %d field order %v", c.name, i+1, keys)
			}
		}
	}
}

// jsonKeyOrder lists an object's top-level keys in document order.
func jsonKeyOrder(t *testing.T, obj string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func detailKeys(t *testing.T, d string) []string {
	t.Helper()
	var keys []string
	for l := range strings.SplitSeq(strings.TrimSuffix(d, "\n"), "\n") {
		var m struct{ Key string }
		if err := json.Unmarshal([]byte(strings.TrimPrefix(l, mllogPrefix)), &m); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, m.Key)
	}
	return keys
}

var pcts = []string{"50.00", "90.00", "95.00", "97.00", "99.00", "99.90"}

func each(format string) []string {
	out := make([]string, len(pcts))
	for i, p := range pcts {
		out[i] = strings.Replace(format, "%", p, 1)
	}
	return out
}

func cat(parts ...[]string) []string { return slices.Concat(parts...) }

var (
	keysHead = []string{"loadgen_version", "test_datetime", "sut_name", "get_sut_name_duration_ns",
		"qsl_name", "qsl_reported_total_count", "qsl_reported_performance_count",
		"requested_scenario", "requested_test_mode"}
	keysRequestedCommon = []string{"requested_min_duration_ms", "requested_max_duration_ms",
		"requested_min_query_count", "requested_max_query_count", "requested_qsl_rng_seed",
		"requested_sample_index_rng_seed", "requested_schedule_rng_seed", "requested_accuracy_log_rng_seed",
		"requested_accuracy_log_probability", "requested_accuracy_log_sampling_target",
		"requested_print_timestamps", "requested_performance_issue_unique", "requested_performance_issue_same",
		"requested_performance_issue_same_index", "requested_performance_sample_count_override",
		"requested_accuracy_sample_count_override", "requested_sample_concatenate_permutation"}
	keysRequestedTokens = []string{"requested_use_token_latencies", "requested_server_ttft_latency", "requested_server_tpot_latency"}
	keysEffective       = []string{"effective_scenario", "effective_test_mode", "effective_samples_per_query",
		"effective_target_qps", "effective_target_latency_ns", "effective_target_latency_percentile",
		"effective_max_async_queries", "effective_target_duration_ms", "effective_min_duration_ms",
		"effective_max_duration_ms", "effective_min_query_count", "effective_max_query_count",
		"effective_min_sample_count", "effective_qsl_rng_seed", "effective_sample_index_rng_seed",
		"effective_schedule_rng_seed", "effective_accuracy_log_rng_seed", "effective_accuracy_log_probability",
		"effective_accuracy_log_sampling_target", "effective_print_timestamps",
		"effective_performance_issue_unique", "effective_performance_issue_same",
		"effective_performance_issue_same_index", "effective_performance_sample_count",
		"effective_accuracy_sample_count", "effective_sample_concatenate_permutation"}
	keysRun = []string{"generic_message", "loaded_qsl_set", "generated_query_count",
		"generated_samples_per_query", "generated_query_duration"}
	keysPower       = []string{"power_begin", "power_end"}
	keysValidity    = []string{"result_validity", "result_min_duration_met", "result_min_queries_met", "early_stopping_met"}
	keysServerValid = []string{"result_validity", "result_perf_constraints_met", "result_min_duration_met",
		"result_min_queries_met", "early_stopping_met"}
	keysLatency = cat([]string{"result_min_latency_ns", "result_max_latency_ns", "result_mean_latency_ns"},
		each("result_%_percentile_latency_ns"))
	keysServerReq = []string{"requested_server_target_qps", "requested_server_target_latency_ns",
		"requested_server_target_latency_percentile", "requested_server_coalesce_queries",
		"requested_server_find_peak_qps_decimals_of_precision", "requested_server_find_peak_qps_boundary_step_size",
		"requested_server_max_async_queries", "requested_server_num_issue_query_threads"}
	keysServerResults = []string{"result_query_count", "result_overlatency_query_count",
		"result_scheduled_samples_per_sec", "result_completed_samples_per_sec"}
)

// TestDetailKeyOrder checks the keys against reference/loadgen.md §8.2's
// order, written out per scenario.
func TestDetailKeyOrder(t *testing.T) {
	want := map[string][]string{
		"offline": cat(keysHead, []string{"requested_offline_expected_qps"}, keysRequestedCommon, keysEffective,
			keysRun, []string{"generic_message"}, keysPower, keysValidity,
			[]string{"early_stopping_result", "result_query_count", "result_samples_per_second"},
			keysLatency, []string{"num_errors"}),
		"server": cat(keysHead, keysServerReq, keysRequestedCommon, keysEffective, keysRun, keysPower,
			keysServerValid, []string{"early_stopping_result"}, keysServerResults, keysLatency, []string{"num_errors"}),
		"server_invalid": cat(keysHead, keysServerReq, keysRequestedCommon, keysEffective, keysRun, keysPower,
			keysServerValid, []string{"result_invalid_reason", "early_stopping_result"}, keysServerResults,
			keysLatency, []string{"num_errors"}),
		"server_tokens": cat(keysHead, keysServerReq, keysRequestedCommon, keysRequestedTokens, keysEffective,
			keysRun, keysPower, keysServerValid,
			[]string{"early_stopping_ttft_result", "early_stopping_tpot_result"}, keysServerResults, keysLatency,
			[]string{"result_first_token_min_latency_ns", "result_first_token_max_latency_ns",
				"result_first_token_mean_latency_ns"},
			each("result_first_token_%_percentile_latency_ns"),
			[]string{"result_token_throughput_with_loadgen_overhead", "result_token_throughput"},
			each("result_time_per_output_token_%_percentile_ns"),
			[]string{"result_time_to_output_token_min", "result_time_to_output_token_max",
				"result_time_to_output_token_mean", "result_completed_tokens_per_second", "num_errors"}),
		"single_stream": cat(keysHead,
			[]string{"requested_single_stream_expected_latency_ns", "requested_single_stream_target_latency_percentile"},
			keysRequestedCommon, keysEffective, keysRun, []string{"generic_message"}, keysPower, keysValidity,
			[]string{"early_stopping_result", "result_query_count", "result_qps_with_loadgen_overhead",
				"result_qps_without_loadgen_overhead", "early_stopping_latency_ss", "early_stopping_latency_ms"},
			keysLatency, []string{"num_errors"}),
		"multi_stream": cat(keysHead,
			[]string{"requested_multi_stream_expected_latency_ns", "requested_multi_stream_target_latency_percentile",
				"requested_multi_stream_samples_per_query"},
			keysRequestedCommon, keysEffective, keysRun, []string{"generic_message"}, keysPower, keysValidity,
			[]string{"early_stopping_result", "result_query_count", "result_min_query_latency_ns",
				"result_max_query_latency_ns", "result_mean_query_latency_ns"},
			each("result_%_percentile_per_query_latency_ns"), []string{"early_stopping_latency_ms"},
			keysLatency, []string{"num_errors"}),
	}
	for _, c := range goldenCases {
		got := detailKeys(t, detailOf(t, c.make()))
		if !slices.Equal(got, want[c.name]) {
			for i := range max(len(got), len(want[c.name])) {
				var g, w string
				if i < len(got) {
					g = got[i]
				}
				if i < len(want[c.name]) {
					w = want[c.name][i]
				}
				if g != w {
					t.Errorf("%s: key %d is %q, want %q", c.name, i, g, w)
					break
				}
			}
		}
	}
}

func num(t *testing.T, m map[string]any, key string) string {
	t.Helper()
	n, ok := m[key].(json.Number)
	if !ok {
		t.Fatalf("%s = %#v, not a number", key, m[key])
	}
	return n.String()
}

func TestDetailValuesOffline(t *testing.T) {
	r := offlineResult()
	d := detailOf(t, r)
	m := parseDetailString(t, d)
	for key, want := range map[string]string{
		"get_sut_name_duration_ns":            "0",
		"qsl_reported_total_count":            "50000",
		"qsl_reported_performance_count":      "1024",
		"requested_offline_expected_qps":      "2500",
		"requested_schedule_rng_seed":         "16159082839903944936",
		"effective_samples_per_query":         "27500",
		"effective_target_qps":                "2500",
		"effective_target_latency_percentile": "0.99",
		"effective_min_query_count":           "1",
		"effective_min_sample_count":          "27500",
		"effective_accuracy_sample_count":     "50000",
		"generated_query_count":               "1",
		"generated_samples_per_query":         "27500",
		"generated_query_duration":            "400000",
		"result_query_count":                  "1",
		"result_samples_per_second":           "2499.98",
		"result_max_latency_ns":               "11000091106",
		"result_99.90_percentile_latency_ns":  "10989292528",
		"num_errors":                          "0",
	} {
		if got := num(t, m, key); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	for key, want := range map[string]any{
		"loadgen_version":            "gpuperf 0.9.0",
		"test_datetime":              "2026-03-14T09:26:53Z",
		"sut_name":                   "ScratchQueueSUT",
		"qsl_name":                   "ScratchQSL",
		"requested_scenario":         "Offline",
		"requested_test_mode":        "PerformanceOnly",
		"effective_scenario":         "Offline",
		"generic_message":            "Ending naturally: Minimum query count and test duration met.",
		"power_begin":                "03-14-2026 09:26:53.589",
		"power_end":                  "03-14-2026 09:27:04.589",
		"result_validity":            "VALID",
		"result_min_duration_met":    true,
		"early_stopping_met":         true,
		"early_stopping_result":      "",
		"requested_print_timestamps": false,
	} {
		if got := m[key]; got != want {
			t.Errorf("%s = %#v, want %#v", key, got, want)
		}
	}
	set, ok := m["loaded_qsl_set"].([]any)
	if !ok || len(set) != 1024 || set[1].(json.Number).String() != "751" || set[1023].(json.Number).String() != "273" {
		t.Errorf("loaded_qsl_set = %v", m["loaded_qsl_set"])
	}
	// LoadGen's list layout has no spaces.
	if !strings.Contains(d, `"value": [0,751,478,`) {
		t.Error("loaded_qsl_set not in LoadGen's [a,b,c] layout")
	}
	// The first "Starting performance mode" message is in the log too.
	if !strings.Contains(d, `{"key": "generic_message", "value": "Starting performance mode", "time_ms": 0.000000, `) {
		t.Error("no Starting performance mode line at time 0")
	}
	if !strings.Contains(d, `{"key": "num_errors", "value": 0, "time_ms": 11000.164090, `) {
		t.Error("result lines are not stamped at the run's end")
	}
}

func TestDetailValuesServer(t *testing.T) {
	m := parseDetailString(t, detailOf(t, serverInvalidResult()))
	for key, want := range map[string]any{
		"result_validity":             "INVALID",
		"result_perf_constraints_met": false,
		"result_min_duration_met":     true,
		"result_min_queries_met":      true,
		"early_stopping_met":          false,
		"result_invalid_reason":       "Reduce target QPS to improve latency.",
		"early_stopping_result": " * Run unsuccessful.  * Processed 27270 queries.  * Would need to run at least " +
			"1321386 more queries,  with the run being successful if every additional  query were under latency.",
		"requested_server_coalesce_queries": false,
		"power_end":                         "03-14-2026 09:27:04.502",
	} {
		if got := m[key]; got != want {
			t.Errorf("%s = %#v, want %#v", key, got, want)
		}
	}
	for key, want := range map[string]string{
		"requested_server_target_qps":                          "2700",
		"requested_server_target_latency_ns":                   "15000000",
		"requested_server_target_latency_percentile":           "0.99",
		"requested_server_find_peak_qps_decimals_of_precision": "1",
		"requested_server_num_issue_query_threads":             "0",
		"effective_target_latency_ns":                          "15000000",
		"effective_max_async_queries":                          "0",
		"result_overlatency_query_count":                       "26871",
		"result_completed_samples_per_sec":                     "2498.78",
		"result_scheduled_samples_per_sec":                     "2726.87",
	} {
		if got := num(t, m, key); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	if _, ok := m["generic_message"]; !ok {
		t.Error("no generic_message")
	} else if m["generic_message"] != "Starting performance mode" {
		t.Errorf("Server logs an end reason: %v", m["generic_message"])
	}
}

func TestDetailValuesStreams(t *testing.T) {
	ss := parseDetailString(t, detailOf(t, singleStreamResult()))
	for key, want := range map[string]string{
		"requested_single_stream_expected_latency_ns":       "1000000",
		"requested_single_stream_target_latency_percentile": "0.9",
		"effective_target_qps":                              "1000",
		"result_qps_with_loadgen_overhead":                  "882.616",
		"result_qps_without_loadgen_overhead":               "892.844",
		"early_stopping_latency_ss":                         "1186004",
		"early_stopping_latency_ms":                         "1352119",
	} {
		if got := num(t, ss, key); got != want {
			t.Errorf("SingleStream %s = %s, want %s", key, got, want)
		}
	}
	if got := ss["power_end"]; got != "03-14-2026 09:27:03.591" {
		t.Errorf("SingleStream power_end = %v", got)
	}
	ms := parseDetailString(t, detailOf(t, multiStreamResult()))
	for key, want := range map[string]string{
		"requested_multi_stream_expected_latency_ns":   "10000000",
		"requested_multi_stream_samples_per_query":     "8",
		"effective_samples_per_query":                  "8",
		"result_mean_query_latency_ns":                 "10000150",
		"result_99.00_percentile_per_query_latency_ns": "10600004",
		"early_stopping_latency_ms":                    "10650120",
		"result_min_latency_ns":                        "9102744",
	} {
		if got := num(t, ms, key); got != want {
			t.Errorf("MultiStream %s = %s, want %s", key, got, want)
		}
	}
}

func TestDetailValuesTokens(t *testing.T) {
	m := parseDetailString(t, detailOf(t, serverTokenResult()))
	for key, want := range map[string]any{
		"requested_use_token_latencies":            true,
		"effective_sample_concatenate_permutation": true,
		"early_stopping_ttft_result":               " * Run successful.",
		"early_stopping_tpot_result":               " * Run successful.",
	} {
		if got := m[key]; got != want {
			t.Errorf("%s = %#v, want %#v", key, got, want)
		}
	}
	for key, want := range map[string]string{
		"requested_server_ttft_latency":                    "2000000000",
		"requested_server_tpot_latency":                    "200000000",
		"result_first_token_99.00_percentile_latency_ns":   "628885054",
		"result_time_per_output_token_99.00_percentile_ns": "123136641",
		"result_time_to_output_token_mean":                 "102590339",
		"result_completed_tokens_per_second":               "50795.6",
		"result_completed_samples_per_sec":                 "348.057",
	} {
		if got := num(t, m, key); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	if _, ok := m["early_stopping_result"]; ok {
		t.Error("token mode logs early_stopping_result")
	}
}

func TestDetailWarningsAndErrors(t *testing.T) {
	r := offlineResult()
	r.Warnings = []string{`5 samples failed in the backend; first error: "boom"`}
	r.Errors = []string{"Encountered incomplete samples at the end of a series of queries.", "Attempted to complete a sample twice. (2 times)"}
	d := detailOf(t, r)
	var warn, errs int
	for l := range strings.SplitSeq(strings.TrimSuffix(d, "\n"), "\n") {
		var m struct {
			Key      string
			Value    any
			Metadata struct {
				IsError   bool `json:"is_error"`
				IsWarning bool `json:"is_warning"`
			}
		}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(l, mllogPrefix)), &m); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		switch m.Key {
		case "warning_generic_message":
			warn++
			if !m.Metadata.IsWarning || m.Metadata.IsError || m.Value != r.Warnings[0] {
				t.Errorf("warning line %s", l)
			}
		case "error_runtime":
			if !m.Metadata.IsError || m.Metadata.IsWarning || m.Value != r.Errors[errs] {
				t.Errorf("error line %s", l)
			}
			errs++
		default:
			if m.Metadata.IsError || m.Metadata.IsWarning {
				t.Errorf("flagged line %s", l)
			}
		}
	}
	if warn != 1 || errs != 2 {
		t.Errorf("%d warnings, %d errors", warn, errs)
	}
	if got := num(t, parseDetailString(t, d), "num_errors"); got != "2" {
		t.Errorf("num_errors = %s", got)
	}
	keys := detailKeys(t, d)
	i, j := slices.Index(keys, "warning_generic_message"), slices.Index(keys, "power_begin")
	if !(slices.Index(keys, "generated_query_duration") < i && i < j) {
		t.Errorf("warnings are not between the run records and power_begin: %v", keys)
	}
}

func TestDetailEmptyLoadedSet(t *testing.T) {
	r := offlineResult()
	r.Series = nil
	m := parseDetailString(t, detailOf(t, r))
	if s, ok := m["loaded_qsl_set"].([]any); !ok || len(s) != 0 {
		t.Errorf("loaded_qsl_set = %#v", m["loaded_qsl_set"])
	}
}

func TestParseDetailNonJSONValues(t *testing.T) {
	line := func(key, value string) string {
		return `:::MLLOG {"key": "` + key + `", "value": ` + value + `, "time_ms": 1.000000, "namespace": "mlperf::logging", "event_type": "POINT_IN_TIME", "metadata": {"is_error": false, "is_warning": false, "file": "loadgen.cc", "line_no": 1, "pid": 1, "tid": 1}}`
	}
	in := strings.Join([]string{
		"some stdout noise",
		line("a", "Infinity"),
		line("b", "-inf"),
		line("c", "NaN"),
		line("d", "]"),
		line("e", `{"x":"y"}`),
		line("f", "1"),
		line("f", "2"),
		line("g", `"Starting"`),
		line("g", `"Ending naturally"`),
		line("h", "18446744073709551615"),
	}, "\r\n")
	m, err := ParseDetail(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := m["a"].(float64); !math.IsInf(v, 1) {
		t.Errorf("a = %v", m["a"])
	}
	if v, _ := m["b"].(float64); !math.IsInf(v, -1) {
		t.Errorf("b = %v", m["b"])
	}
	if v, _ := m["c"].(float64); !math.IsNaN(v) {
		t.Errorf("c = %v", m["c"])
	}
	if v, ok := m["d"].([]any); !ok || len(v) != 0 {
		t.Errorf("d = %v", m["d"])
	}
	if v, ok := m["e"].(map[string]any); !ok || v["x"] != "y" {
		t.Errorf("e = %v", m["e"])
	}
	if m["f"].(json.Number) != "2" || m["g"] != "Ending naturally" || m["h"].(json.Number) != "18446744073709551615" {
		t.Errorf("last values: %v %v %v", m["f"], m["g"], m["h"])
	}
	if _, err := ParseDetail(strings.NewReader(line("x", "bogus"))); err == nil {
		t.Error("malformed value accepted")
	}
	if _, err := ParseDetail(strings.NewReader(":::MLLOG {not json")); err == nil {
		t.Error("malformed line accepted")
	}
}

func TestDetailNonFiniteDouble(t *testing.T) {
	r := offlineResult()
	r.SamplesPerSecond = math.Inf(1)
	d := detailOf(t, r)
	if !strings.Contains(d, `"value": Infinity, `) {
		t.Error("infinite rate not written as Infinity")
	}
	m := parseDetailString(t, d)
	if v, _ := m["result_samples_per_second"].(float64); !math.IsInf(v, 1) {
		t.Errorf("result_samples_per_second = %v", m["result_samples_per_second"])
	}
	if !strings.Contains(summaryOf(t, r), "\nSamples per second: inf\n") {
		t.Error("summary does not print inf as C++ does")
	}
}

func TestDetailStringEscaping(t *testing.T) {
	r := offlineResult()
	r.SUTName = "gpu \"A\"\\b\n\t<x>&"
	m := parseDetailString(t, detailOf(t, r))
	if m["sut_name"] != r.SUTName {
		t.Errorf("sut_name = %q", m["sut_name"])
	}
	if !strings.Contains(detailOf(t, r), `<x>&`) {
		t.Error("HTML characters escaped; LoadGen writes them as is")
	}
}
