package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/internal/golden"
	"github.com/gpuperf/gpuperf/internal/testpaths"
	"github.com/gpuperf/gpuperf/results"
)

// render renders c in f, failing the test on error.
func render(t *testing.T, f Format, c *results.Comparison, o Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, f, c, o); err != nil {
		t.Fatalf("%s: %v", f, err)
	}
	return b.Bytes()
}

// TestGoldenFixed pins every format of the hand-built comparison.
func TestGoldenFixed(t *testing.T) {
	c := fixedComparison()
	for _, f := range Formats() {
		t.Run(string(f), func(t *testing.T) {
			golden.Check(t, "fixed."+f.Ext()+".golden", render(t, f, c, Options{Runs: fakeRuns{}}))
		})
	}
}

// mlperfDir is the published MLPerf results, or skips.
func mlperfDir(t *testing.T) string { return testpaths.MLPerf(t) }

// publishedComparison compares Dell's bare-metal XE8545 (4× A100) with
// the same machine under VMware vSphere (v3.0), with folder names made
// relative so the output does not depend on where the data lies.
func publishedComparison(t *testing.T) (*results.Comparison, Folders) {
	d := mlperfDir(t)
	basePath := filepath.Join(d, "v3.0/Dell/XE8545_A100_SXM4_80GBx4_TRT")
	candPath := filepath.Join(d, "v3.0/Dell/vXE8545_A100_SXM_80GBx4_TRT")
	base, err := results.ReadSource(basePath, results.RoleBaseline)
	if err != nil {
		t.Fatal(err)
	}
	cand, err := results.ReadSource(candPath, results.RoleCandidate)
	if err != nil {
		t.Fatal(err)
	}
	c, err := results.CompareSources(base, cand, results.Options{Version: "v1.2.3-test", Gate: results.GateRegression,
		Now: time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	rel := func(p string) string {
		r, err := filepath.Rel(d, p)
		if err != nil {
			t.Fatal(err)
		}
		return filepath.Join("mlperf", r)
	}
	for _, s := range []*results.Side{&c.Baseline, &c.Candidate} {
		s.Path = rel(s.Path)
		for i := range s.Hosts {
			if s.Hosts[i].FingerprintFile != "" {
				s.Hosts[i].FingerprintFile = rel(s.Hosts[i].FingerprintFile)
			}
		}
	}
	return c, Folders{Baseline: basePath, Candidate: candPath}
}

// TestGoldenPublished pins every format of a published MLPerf pair, the
// charts' latency read from the runs' summaries.
func TestGoldenPublished(t *testing.T) {
	c, folders := publishedComparison(t)
	for _, f := range Formats() {
		t.Run(string(f), func(t *testing.T) {
			golden.Check(t, "published."+f.Ext()+".golden", render(t, f, c, Options{Runs: folders}))
		})
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"table": Table, "json": JSON, "md": Markdown, "markdown": Markdown, "HTML": HTML, "junit": JUnit, "xml": JUnit, " md ": Markdown} {
		got, err := ParseFormat(in)
		if err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "pdf", "txt", "jsonl"} {
		if _, err := ParseFormat(in); err == nil || !strings.Contains(err.Error(), "table|json|md|html|junit") {
			t.Errorf("ParseFormat(%q) = %v; want an error listing the formats", in, err)
		}
	}
}

// TestJSONRoundTrip: the JSON report decodes to the same comparison.
func TestJSONRoundTrip(t *testing.T) {
	c := fixedComparison()
	first := render(t, JSON, c, Options{})
	back, err := Decode("report.json", first)
	if err != nil {
		t.Fatal(err)
	}
	second := render(t, JSON, back, Options{})
	if !bytes.Equal(first, second) {
		t.Fatalf("JSON changed in a round trip:\n%s", golden.Diff(first, second))
	}
	if back.Gate.ExitCode != results.ExitVoid || len(back.Scenarios) != 4 || back.Fairness == nil || len(back.Findings) != 3 {
		t.Fatalf("decoded comparison lost fields: gate %+v, %d scenarios, fairness %v, %d findings", back.Gate, len(back.Scenarios), back.Fairness, len(back.Findings))
	}
}

func TestReadBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, content string
		line          int
		want          string
	}{
		{"truncated.json", "{\n  \"schema\": \"gpuperf.comparison/v1\",\n  \"scenarios\": [\n", 4, "not a gpuperf comparison"},
		{"syntax.json", "{\n  \"schema\": \"gpuperf.comparison/v1\",\n  \"scenarios\": [}\n", 3, "not a gpuperf comparison"},
		{"type.json", "{\n  \"schema\": \"gpuperf.comparison/v1\",\n\n  \"scenarios\": 7\n}\n", 4, "not a gpuperf comparison"},
		{"noschema.json", "{\"scenarios\": []}", 0, "no \"schema\""},
		{"other.json", "{\"schema\": \"gpuperf.run/v1\"}", 0, "gpuperf.run/v1"},
		{"v2.json", "{\"schema\": \"gpuperf.comparison/v2\"}", 0, "this gpuperf reads gpuperf.comparison/v1"},
	} {
		p := write(tc.name, tc.content)
		_, err := Read(p)
		var ie *results.InputError
		if !errors.As(err, &ie) {
			t.Errorf("%s: error %v, want an *results.InputError", tc.name, err)
			continue
		}
		if ie.File != p || ie.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v (file %s, line %d); want file %s, line %d, mentioning %q", tc.name, err, ie.File, ie.Line, p, tc.line, tc.want)
		}
	}
	if _, err := Read(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want not-exist", err)
	}
}

// TestWriteFiles writes the tree's three reports and reads report.json
// back.
func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	c := fixedComparison()
	paths, err := WriteFiles(dir, c, Options{Runs: fakeRuns{}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "report.json"), filepath.Join(dir, "report.md"), filepath.Join(dir, "report.html")}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Fatalf("wrote %v, want %v", paths, want)
	}
	back, err := Read(filepath.Join(dir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(render(t, JSON, back, Options{}), render(t, JSON, c, Options{})) {
		t.Fatal("report.json does not read back to the comparison")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Fatalf("%d files in the folder (temporary files left?): %v", len(entries), entries)
	}
}

// TestMarkdownOrder: material differences come before the numbers, the
// findings in rank order, the definitions at the end; cells are escaped.
func TestMarkdownOrder(t *testing.T) {
	c := fixedComparison()
	c.Scenarios[0].Benchmark = "res|net*50"
	md := string(render(t, Markdown, c, Options{TopFindings: 2}))
	idx := func(s string) int {
		i := strings.Index(md, s)
		if i < 0 {
			t.Fatalf("Markdown lacks %q:\n%s", s, md)
		}
		return i
	}
	if !(idx("Power limit: baseline 400 W, candidate 300 W") < idx("| Benchmark | Scenario | Retained |")) {
		t.Error("the material difference does not come before the table")
	}
	if !(idx("SM clock was 9.6% lower") < idx("lost 6.5% of its CPU time")) {
		t.Error("findings are not in rank order")
	}
	if strings.Contains(md, "PCIe link generation is unavailable") {
		t.Error("TopFindings 2 printed the third finding")
	}
	if !strings.Contains(md, "(top 2 of 3, ranked)") {
		t.Error("the findings heading does not say 2 of 3")
	}
	if !strings.Contains(md, `| res\|net\*50 | Offline | **98.6%** | [98.2, 99.0] | ±0.4 | equivalent | ✅ pass |`) {
		t.Errorf("the Offline row is not as expected (escaped cells, numbers):\n%s", md)
	}
	if !(idx("| Server |") < idx("How these numbers are defined")) {
		t.Error("definitions precede the table")
	}
	// Every table row has as many cells as its header.
	sep := regexp.MustCompile(`(^|[^\\])\|`)
	header := 0 // the separators of the table's header; 0 outside a table
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			header = 0
			continue
		}
		cells := len(sep.FindAllString(line, -1))
		switch {
		case header == 0:
			header = cells
		case cells != header:
			t.Errorf("table row with %d separators under a header of %d: %s", cells, header, line)
		}
	}
}

// TestJUnitCases decodes the JUnit report and checks each case against
// what the fixture's gate outcomes imply.
func TestJUnitCases(t *testing.T) {
	c := fixedComparison()
	var doc junitSuites
	if err := xml.Unmarshal(render(t, JUnit, c, Options{}), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("%d suites", len(doc.Suites))
	}
	s := doc.Suites[0]
	// Offline pass, Server regression (failure), SingleStream pass (not
	// below the gate), MultiStream void (skipped), bert-99 Offline
	// unmatched (skipped). Overall the void wins: exit 3 comes before 4.
	want := map[string]string{"gpuperf.resnet50/Offline": "pass", "gpuperf.resnet50/Server": "failure", "gpuperf.resnet50/SingleStream": "pass",
		"gpuperf.resnet50/MultiStream": "skipped", "gpuperf.bert-99/Offline": "skipped"}
	if s.Tests != 5 || s.Failures != 1 || s.Skipped != 2 || s.Errors != 0 || doc.Tests != 5 || doc.Failures != 1 {
		t.Errorf("counts: suite %d tests %d failures %d skipped %d errors; doc %d/%d", s.Tests, s.Failures, s.Skipped, s.Errors, doc.Tests, doc.Failures)
	}
	for _, tc := range s.Cases {
		key := tc.Classname + "/" + tc.Name
		got := "pass"
		switch {
		case tc.Failure != nil:
			got = "failure"
		case tc.Skipped != nil:
			got = "skipped"
		case tc.Error != nil:
			got = "error"
		}
		if got != want[key] {
			t.Errorf("%s: %s, want %s", key, got, want[key])
		}
		delete(want, key)
		if key == "gpuperf.resnet50/Server" {
			for _, s := range []string{"retained 91.3%", "[90.2, 92.4]", "±1.1", "lies wholly below 95%"} {
				if !strings.Contains(tc.Failure.Message, s) {
					t.Errorf("Server failure message %q lacks %q", tc.Failure.Message, s)
				}
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("missing cases: %v", want)
	}
	props := map[string]string{}
	for _, p := range s.Properties {
		props[p.Name] = p.Value
	}
	if props["baseline.run_id"] != "20260314-150926" || props["candidate.run_id"] != "20260314-150926" || props["gate.exit_code"] != "3" {
		t.Errorf("properties: %v", props)
	}
}

// TestJUnitQualifyAndRefused: under qualify an inconclusive scenario
// fails; a refused one under a gate is an error; failed runs add a case.
func TestJUnitQualifyAndRefused(t *testing.T) {
	c := fixedComparison()
	c.Settings.Gate = results.GateQualify
	c.Scenarios[1].Status, c.Scenarios[1].Refusal = results.StatusRefused, "the sides processed different query counts"
	c.Scenarios[1].RetainedPct, c.Scenarios[1].Interval, c.Scenarios[1].EquivalenceInterval = nil, nil, nil
	c.ApplyGate(results.Failures{Runtime: []string{"2 runs failed; see out/run.json"}})
	var doc junitSuites
	if err := xml.Unmarshal(render(t, JUnit, c, Options{}), &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tc := range doc.Suites[0].Cases {
		switch {
		case tc.Failure != nil:
			got[tc.Classname+"/"+tc.Name] = "failure:" + tc.Failure.Type
		case tc.Error != nil:
			got[tc.Classname+"/"+tc.Name] = "error:" + tc.Error.Type
		case tc.Skipped != nil:
			got[tc.Classname+"/"+tc.Name] = "skipped"
		default:
			got[tc.Classname+"/"+tc.Name] = "pass"
		}
	}
	want := map[string]string{
		"gpuperf.resnet50/Offline":      "pass",                    // [98.2, 99.0] at or above 95
		"gpuperf.resnet50/Server":       "error:refused",           // refused under a gate: exit 2
		"gpuperf.resnet50/SingleStream": "pass",                    // [96.7, 101.6] at or above 95
		"gpuperf.resnet50/MultiStream":  "skipped",                 // void
		"gpuperf.bert-99/Offline":       "skipped",                 // unmatched
		"gpuperf/runs":                  "error:" + c.Gate.Outcome, // runtime failure
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s, want %s", k, got[k], w)
		}
	}
	// An interval straddling the threshold is inconclusive under qualify.
	c.Scenarios[2].Interval.LowPct = 94.0
	c.ApplyGate(results.Failures{})
	var again junitSuites
	if err := xml.Unmarshal(render(t, JUnit, c, Options{}), &again); err != nil {
		t.Fatal(err)
	}
	for _, tc := range again.Suites[0].Cases {
		if tc.Name == "SingleStream" && (tc.Failure == nil || tc.Failure.Type != "inconclusive") {
			t.Errorf("SingleStream straddling 95%% under qualify: %+v, want an inconclusive failure", tc)
		}
	}
}

// TestHTMLSelfContained: one page, no script, nothing loaded from
// elsewhere, a chart per scenario section and the unavailable telemetry
// named with its reason.
func TestHTMLSelfContained(t *testing.T) {
	c := fixedComparison()
	page := string(render(t, HTML, c, Options{Runs: fakeRuns{}}))
	for _, bad := range []string{"<script", "<link", "@import", "url(", "src=\"http", "href=\"http", "<?xml"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	// Retained chart, then per scenario: repetitions, latency CDF and two
	// telemetry columns, except the candidate's MultiStream telemetry.
	if n, want := strings.Count(page, "<svg "), 1+4*4-1; n != want {
		t.Errorf("%d <svg> charts, want %d", n, want)
	}
	if !strings.Contains(page, "telemetry unavailable: NVML unavailable: NVML library not found") {
		t.Error("the candidate's missing telemetry is not explained")
	}
	if !(strings.Index(page, "Power limit") < strings.Index(page, "id=\"summary\"")) {
		t.Error("the material difference does not come before the numbers")
	}
	if len(page) > 1<<20 {
		t.Errorf("the page is %d bytes; keep it under 1 MiB", len(page))
	}
}

// TestHTMLAllUnavailable: without any run data every chart says why.
func TestHTMLAllUnavailable(t *testing.T) {
	c := fixedComparison()
	c.Baseline.Path, c.Candidate.Path = t.TempDir(), t.TempDir()
	page := string(render(t, HTML, c, Options{}))
	// MultiStream's baseline runs are INVALID, not counted, but finished:
	// their folders are looked in too.
	if n := strings.Count(page, "telemetry unavailable: baseline: no telemetry.csv in "); n != 4 {
		t.Errorf("%d scenarios say the baseline has no telemetry.csv, want 4", n)
	}
	if n := strings.Count(page, "latency unavailable: baseline: open "); n != 4 {
		t.Errorf("%d scenarios explain the missing latency summaries, want 4", n)
	}
	if n := strings.Count(page, "<svg "); n != 1+4 {
		t.Errorf("%d charts, want the retained chart and the four repetition charts (the MultiStream runs left out are drawn as crosses)", n)
	}
}

// BenchmarkWriteHTML renders the fixed comparison's page: 15 charts,
// telemetry of two GPUs at 600 ticks per side.
func BenchmarkWriteHTML(b *testing.B) {
	c := fixedComparison()
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := WriteHTML(&buf, c, Options{Runs: fakeRuns{}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/page")
}
