package mlperflog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/internal/testpaths"
)

// TestReadSummaryPublished reads every published summary in the shared
// test data. The expected values were taken from the files independently
// of this package: a short Python script split each line at its first
// colon, took the lines between "Mode" and "Result is" as the headline,
// the indented lines after "Result is" as the checks ("Yes" true), and the
// two trailer lines' leading count ("No" is 0); line numbers are 1-based.
func TestReadSummaryPublished(t *testing.T) {
	type want struct {
		path      string
		scenario  string
		headlines []Field
		valid     bool
		validLine int
		checks    []Check
		warnings  int
		errors    int
	}
	table := []want{
		{"v3.0/Dell/R750xa_H100_PCIe_80GBx2_TRT/3d-unet-99.9/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "9.05815", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 0, 0},
		{"v3.0/Dell/R750xa_H100_PCIe_80GBx2_TRT/retinanet/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "1892.09", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 0, 0},
		{"v3.0/Dell/R750xa_H100_PCIe_80GBx2_TRT/retinanet/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "1852.24", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 0, 0},
		{"v3.0/Dell/R750xa_H100_PCIe_80GBx2_TRT/rnnt/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "33741.5", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 2, 0},
		{"v3.0/Dell/R750xa_H100_PCIe_80GBx2_TRT/rnnt/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "32004.51", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 2, 0},
		{"v3.0/Dell/XE8545_A100_SXM4_80GBx4_TRT/3d-unet-99/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "14.4367", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 0, 0},
		{"v3.0/Dell/XE8545_A100_SXM4_80GBx4_TRT/bert-99.9/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "7880.67", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 0, 0},
		{"v3.0/Dell/XE8545_A100_SXM4_80GBx4_TRT/bert-99.9/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "7004.02", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 0, 0},
		{"v3.0/Dell/XE8545_A100_SXM4_80GBx4_TRT/bert-99/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "15090", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 4, 0},
		{"v3.0/Dell/XE8545_A100_SXM4_80GBx4_TRT/bert-99/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "13597.46", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 0, 0},
		{"v3.0/Dell/XE8545_A100_SXM4_80GBx4_TRT/retinanet/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "2910.78", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 0, 0},
		{"v3.0/Dell/XE8545_A100_SXM4_80GBx4_TRT/retinanet/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "2848.84", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 0, 0},
		{"v3.0/Dell/XE8545_A100_SXM4_80GBx4_TRT/rnnt/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "57084.4", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 4, 0},
		{"v3.0/Dell/XE8545_A100_SXM4_80GBx4_TRT/rnnt/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "54000.38", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 4, 0},
		{"v3.0/Dell/vR750xa_H100_PCIe_80Cx2_TRT/3d-unet-99.9/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "8.75888", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 0, 0},
		{"v3.0/Dell/vR750xa_H100_PCIe_80Cx2_TRT/retinanet/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "1800.6", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 0, 0},
		{"v3.0/Dell/vR750xa_H100_PCIe_80Cx2_TRT/retinanet/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "1772.81", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 0, 0},
		{"v3.0/Dell/vR750xa_H100_PCIe_80Cx2_TRT/rnnt/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "32771.4", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 2, 0},
		{"v3.0/Dell/vR750xa_H100_PCIe_80Cx2_TRT/rnnt/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "31131.23", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 2, 0},
		{"v3.0/Dell/vXE8545_A100_SXM_80GBx4_TRT/3d-unet-99/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "15.1043", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 0, 0},
		{"v3.0/Dell/vXE8545_A100_SXM_80GBx4_TRT/bert-99.9/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "7767.84", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 0, 0},
		{"v3.0/Dell/vXE8545_A100_SXM_80GBx4_TRT/bert-99.9/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "7004.02", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 0, 0},
		{"v3.0/Dell/vXE8545_A100_SXM_80GBx4_TRT/bert-99/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "14923.1", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 4, 0},
		{"v3.0/Dell/vXE8545_A100_SXM_80GBx4_TRT/bert-99/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "13497.86", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 0, 0},
		{"v3.0/Dell/vXE8545_A100_SXM_80GBx4_TRT/retinanet/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "2876.56", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 0, 0},
		{"v3.0/Dell/vXE8545_A100_SXM_80GBx4_TRT/retinanet/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "2798.93", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 0, 0},
		{"v3.0/Dell/vXE8545_A100_SXM_80GBx4_TRT/rnnt/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "56174", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 4, 0},
		{"v3.0/Dell/vXE8545_A100_SXM_80GBx4_TRT/rnnt/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "51001.81", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 4, 0},
		{"v4.0/Dell/R760_L40Sx2_TRT/3d-unet-99/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "7.81015", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 0, 0},
		{"v4.0/Dell/R760_L40Sx2_TRT/bert-99/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "6603.3", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 0, 0},
		{"v4.0/Dell/R760_L40Sx2_TRT/bert-99/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "6696.44", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 0, 0},
		{"v4.0/Dell/R760_L40Sx2_TRT/retinanet/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "1641.96", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 0, 0},
		{"v4.0/Dell/R760_L40Sx2_TRT/retinanet/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "1523.79", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 0, 0},
		{"v4.0/Dell/R760_L40Sx2_TRT/rnnt/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "22848.1", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 2, 0},
		{"v4.0/Dell/R760_L40Sx2_TRT/rnnt/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "21746.70", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 2, 0},
		{"v4.0/Dell/R760xa_L40Sx4_TRT/stable-diffusion-xl/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "2.68759", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 0, 0},
		{"v4.0/Dell/R760xa_L40Sx4_TRT/stable-diffusion-xl/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "2.61", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 0, 0},
		{"v4.0/Dell/R7615_L40Sx2_TRT/stable-diffusion-xl/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "1.33199", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 0, 0},
		{"v4.0/Dell/R7615_L40Sx2_TRT/stable-diffusion-xl/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "1.23", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 0, 0},
		{"v4.0/Dell/vR760_L40S_48Cx2_TRT/3d-unet-99/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "7.66646", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 0, 0},
		{"v4.0/Dell/vR760_L40S_48Cx2_TRT/bert-99/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "6082.83", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 0, 0},
		{"v4.0/Dell/vR760_L40S_48Cx2_TRT/bert-99/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "5996.11", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 0, 0},
		{"v4.0/Dell/vR760_L40S_48Cx2_TRT/retinanet/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "1584.83", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 0, 0},
		{"v4.0/Dell/vR760_L40S_48Cx2_TRT/retinanet/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "1473.57", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 0, 0},
		{"v4.0/Dell/vR760_L40S_48Cx2_TRT/rnnt/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "22070.8", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 2, 0},
		{"v4.0/Dell/vR760_L40S_48Cx2_TRT/rnnt/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "20546.33", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 2, 0},
		{"v4.0/Dell/vR760_L40S_48Cx2_TRT/stable-diffusion-xl/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "1.29077", 7}}, true, 8, []Check{{"Min duration satisfied", true, 9}, {"Min queries satisfied", true, 10}, {"Early stopping satisfied", true, 11}}, 0, 0},
		{"v4.0/Dell/vR760_L40S_48Cx2_TRT/stable-diffusion-xl/Server/mlperf_log_summary.txt", "Server", []Field{{"Scheduled samples per second", "1.09", 7}}, true, 8, []Check{{"Performance constraints satisfied", true, 9}, {"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 0, 0},
		{"v4.1/NVIDIA/DGX-H100_H100-SXM-80GBx8_TRT/mixtral-8x7b/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "359.173", 7}, {"Tokens per second", "52415.9", 8}}, true, 9, []Check{{"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 0, 0},
		{"v4.1/NVIDIA/DGX-H100_H100-SXM-80GBx8_TRT/mixtral-8x7b/Server/mlperf_log_summary.txt", "Server", []Field{{"Completed samples per second", "348.06", 7}, {"Completed tokens per second", "50795.57", 8}}, true, 9, []Check{{"Performance constraints satisfied", true, 10}, {"Min duration satisfied", true, 11}, {"Min queries satisfied", true, 12}, {"Early stopping satisfied", true, 13}}, 0, 0},
		{"v5.0/Cisco/C885A_H100_SXMx8_TRT/mixtral-8x7b/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "362.446", 7}, {"Tokens per second", "52724.4", 8}}, true, 9, []Check{{"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 0, 0},
		{"v5.0/Cisco/C885A_H100_SXMx8_TRT/mixtral-8x7b/Server/mlperf_log_summary.txt", "Server", []Field{{"Completed samples per second", "363.72", 7}, {"Completed tokens per second", "53299.32", 8}}, true, 9, []Check{{"Performance constraints satisfied", true, 10}, {"Min duration satisfied", true, 11}, {"Min queries satisfied", true, 12}, {"Early stopping satisfied", true, 13}}, 0, 0},
		{"v5.0/Dell/vXE9680_H100_SXM_80GBx8_TRT/mixtral-8x7b/Offline/mlperf_log_summary.txt", "Offline", []Field{{"Samples per second", "354.321", 7}, {"Tokens per second", "51514.5", 8}}, true, 9, []Check{{"Min duration satisfied", true, 10}, {"Min queries satisfied", true, 11}, {"Early stopping satisfied", true, 12}}, 0, 0},
		{"v5.0/Dell/vXE9680_H100_SXM_80GBx8_TRT/mixtral-8x7b/Server/mlperf_log_summary.txt", "Server", []Field{{"Completed samples per second", "347.72", 7}, {"Completed tokens per second", "50895.98", 8}}, true, 9, []Check{{"Performance constraints satisfied", true, 10}, {"Min duration satisfied", true, 11}, {"Min queries satisfied", true, 12}, {"Early stopping satisfied", true, 13}}, 0, 0},
	}
	files := publishedSummaries(t)
	publishedDir := testpaths.MLPerf(t)
	if len(files) != len(table) {
		t.Errorf("%d published summaries, the table has %d rows: update the table", len(files), len(table))
	}
	for _, w := range table {
		t.Run(w.path, func(t *testing.T) {
			f, err := os.Open(filepath.Join(publishedDir, w.path))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			s, err := ReadSummary(f)
			if err != nil {
				t.Fatalf("ReadSummary: %v", err)
			}
			if s.Scenario.Value != w.scenario {
				t.Errorf("Scenario = %q, want %q", s.Scenario.Value, w.scenario)
			}
			if !slices.Equal(s.Headlines, w.headlines) {
				t.Errorf("Headlines = %v, want %v", s.Headlines, w.headlines)
			}
			if s.Valid != w.valid || s.Validity.Line != w.validLine {
				t.Errorf("Valid = %v at line %d, want %v at line %d", s.Valid, s.Validity.Line, w.valid, w.validLine)
			}
			if !slices.Equal(s.Checks, w.checks) {
				t.Errorf("Checks = %v, want %v", s.Checks, w.checks)
			}
			if s.Warnings != w.warnings || s.Errors != w.errors {
				t.Errorf("Warnings, Errors = %d, %d; want %d, %d", s.Warnings, s.Errors, w.warnings, w.errors)
			}
			if _, err := strconv.ParseFloat(s.Headlines[0].Value, 64); err != nil {
				t.Errorf("headline %q is not a number", s.Headlines[0].Value)
			}
		})
	}
}

// TestReadSummaryOwn reads gpuperf's own summaries back to the values that
// produced them: each fixture rendered now, and the golden file it was
// committed as.
func TestReadSummaryOwn(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *inference.Result
		// headline is the headline label and the value the result holds;
		// tol is the printed precision of the value.
		headline string
		value    float64
		tol      float64
		// golden is the committed file the fixture was written to.
		golden string
	}{
		{"offline", offlineResult(), "Samples per second", offlineResult().SamplesPerSecond, 0.01, "offline.summary.txt"},
		{"server", serverResult(), "Completed samples per second", serverResult().CompletedSamplesPerSecond, 0.005, "server.summary.txt"},
		{"server invalid", serverInvalidResult(), "Completed samples per second", serverInvalidResult().CompletedSamplesPerSecond, 0.005, "server_invalid.summary.txt"},
		{"single stream", singleStreamResult(), "90.0th percentile latency (ns)", float64(singleStreamResult().TargetLatencyNs), 0, "single_stream.summary.txt"},
		{"multi stream", multiStreamResult(), "99.0th percentile latency (ns)", float64(multiStreamResult().TargetLatencyNs), 0, "multi_stream.summary.txt"},
		{"server tokens", serverTokenResult(), "Completed samples per second", serverTokenResult().CompletedSamplesPerSecond, 0.005, "server_tokens.summary.txt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			golden, err := os.ReadFile(filepath.Join("testdata", tc.golden))
			if err != nil {
				t.Fatal(err)
			}
			t.Run("rendered", func(t *testing.T) { checkReadBack(t, summaryOf(t, tc.r), tc.r, tc.headline, tc.value, tc.tol) })
			t.Run("golden", func(t *testing.T) { checkReadBack(t, string(golden), tc.r, tc.headline, tc.value, tc.tol) })
		})
	}
}

// checkReadBack reads a summary of r and compares it with r's values.
func checkReadBack(t *testing.T, text string, r *inference.Result, headline string, value, tol float64) {
	t.Helper()
	s, err := ReadSummary(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if s.Scenario.Value != r.Effective.Scenario.String() {
		t.Errorf("Scenario = %q, want %q", s.Scenario.Value, r.Effective.Scenario)
	}
	h, ok := s.Headline(headline)
	if !ok {
		t.Fatalf("no headline %q in %v", headline, s.Headlines)
	}
	got, err := s.Float(h)
	if err != nil {
		t.Fatal(err)
	}
	if d := got - value; d > tol || d < -tol {
		t.Errorf("%s = %v, want %v ± %v", headline, got, value, tol)
	}
	v := r.Validity
	if s.Valid != v.Valid {
		t.Errorf("Valid = %v, want %v", s.Valid, v.Valid)
	}
	wantChecks := map[string]bool{
		"Min duration satisfied": v.MinDurationMet, "Min queries satisfied": v.MinQueriesMet,
		"Early stopping satisfied": v.EarlyStoppingMet,
	}
	if v.PerfConstraintsMet != nil {
		wantChecks["Performance constraints satisfied"] = *v.PerfConstraintsMet
	}
	if len(s.Checks) != len(wantChecks) {
		t.Errorf("Checks = %v, want %v", s.Checks, wantChecks)
	}
	for _, c := range s.Checks {
		if w, ok := wantChecks[c.Label]; !ok || w != c.OK {
			t.Errorf("check %q = %v, want %v (known %v)", c.Label, c.OK, w, ok)
		}
	}
	if !slices.Equal(s.Recommendations, v.Recommendations) {
		t.Errorf("Recommendations = %q, want %q", s.Recommendations, v.Recommendations)
	}
	if r.EarlyStopping.EstimateNs != 0 {
		pct := fmt.Sprintf("%.1f", r.TargetPercentile*100)
		e, ok := s.Estimates[pct]
		if !ok {
			t.Fatalf("no %s estimate in %v", pct, s.Estimates)
		}
		if e.Value != strconv.FormatInt(r.EarlyStopping.EstimateNs, 10) {
			t.Errorf("estimate = %s, want %d", e.Value, r.EarlyStopping.EstimateNs)
		}
		if s.Processed != r.QueriesIssued {
			t.Errorf("Processed = %d, want the %d queries issued", s.Processed, r.QueriesIssued)
		}
	}
	if r.Tokens != nil && r.Effective.Scenario == inference.Server {
		h, ok := s.Headline("Completed tokens per second")
		if !ok {
			t.Fatalf("no tokens headline in %v", s.Headlines)
		}
		if got, _ := s.Float(h); got-r.Tokens.CompletedTokensPerSec > 0.005 || r.Tokens.CompletedTokensPerSec-got > 0.005 {
			t.Errorf("Completed tokens per second = %v, want %v", got, r.Tokens.CompletedTokensPerSec)
		}
	}
	if s.Errors != len(r.Errors) || s.Warnings != len(r.Warnings) {
		t.Errorf("Errors, Warnings = %d, %d; want %d, %d", s.Errors, s.Warnings, len(r.Errors), len(r.Warnings))
	}
}

// TestReadSummaryGolden reads the committed golden summaries (the same
// fixtures as written to testdata) and checks their headline lines.
func TestReadSummaryGolden(t *testing.T) {
	for name, want := range map[string]string{
		"offline.summary.txt":        "Samples per second",
		"server.summary.txt":         "Completed samples per second",
		"server_invalid.summary.txt": "Completed samples per second",
		"single_stream.summary.txt":  "90.0th percentile latency (ns)",
		"multi_stream.summary.txt":   "99.0th percentile latency (ns)",
		"server_tokens.summary.txt":  "Completed samples per second",
	} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		s, err := ReadSummary(strings.NewReader(string(b)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(s.Headlines) == 0 || s.Headlines[0].Label != want || s.Headlines[0].Line != 7 {
			t.Errorf("%s: headlines %v, want %q at line 7", name, s.Headlines, want)
		}
	}
}

func TestReadSummaryBadInput(t *testing.T) {
	good := summaryOf(t, serverResult())
	lines := strings.Split(good, "\n")
	cut := func(n int) string { return strings.Join(lines[:n], "\n") + "\n" }
	replace := func(old, new string) string { return strings.Replace(good, old, new, 1) }
	for _, tc := range []struct {
		name     string
		text     string
		wantLine int
		wantMsg  string
	}{
		{"empty", "", 0, "empty file"},
		{"truncated after the headline", cut(7), 7, `no "Result is :" line`},
		{"truncated in the stats", cut(25), 25, "truncated"},
		{"truncated before the error trailer", cut(len(lines) - 2), len(lines) - 3, "truncated"}, // the last line read is "No warnings ..."
		{"bad validity", replace("Result is : VALID", "Result is : MAYBE"), 8, `Result is "MAYBE"`},
		{"bad check", replace("  Min duration satisfied : Yes", "  Min duration satisfied : Perhaps"), 10, `"Perhaps"`},
		{"bad error count", replace("No errors encountered", "Many errors encountered"), 0, "truncated"},
		{"not a summary", "hello\nworld\n", 2, `no "Scenario :" line`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadSummary(strings.NewReader(tc.text))
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("ReadSummary = %v, want a *LineError", err)
			}
			if tc.wantLine != 0 && le.Line != tc.wantLine {
				t.Errorf("line %d, want %d (%v)", le.Line, tc.wantLine, err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q lacks %q", err, tc.wantMsg)
			}
		})
	}
	s, err := ReadSummary(strings.NewReader(replace("Completed samples per second    : 1519.09", "Completed samples per second    : fast")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Float(s.Headlines[0]); err == nil || !strings.Contains(err.Error(), "line 7") {
		t.Errorf("Float of a malformed headline = %v, want an error at line 7", err)
	}
}
