package main

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// junitDoc is the part of a JUnit report the tests read.
type junitDoc struct {
	Suites []struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Cases    []struct {
			Name      string    `xml:"name,attr"`
			Classname string    `xml:"classname,attr"`
			Failure   *struct{} `xml:"failure"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// TestReportPlanTree runs a plan, then renders its tree: the plan wrote
// report.{json,md,html} into it; report DIR prints report.json as it is;
// the tree, moved elsewhere, still gives the HTML its latency charts.
func TestReportPlanTree(t *testing.T) {
	a, b := startAgent(t), startAgent(t)
	dir := t.TempDir()
	plan := writePlan(t, dir, a.addr, b.addr, "scenarios: [offline, server]\nrepetitions: 2\n")
	stdout, stderr, code := run(t, nil, "compare", "--plan", plan, "--format", "md")
	if !strings.HasPrefix(stdout, "### gpuperf: candidate vm") || !strings.Contains(stdout, "| resnet50 | Offline |") {
		t.Fatalf("--format md: exit %d, printed:\n%s\n%s", code, stdout, stderr)
	}
	_, root := readManifest(t, filepath.Join(dir, "out"))
	for _, f := range []string{"report.json", "report.md", "report.html"} {
		if fi, err := os.Stat(filepath.Join(root, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	stored, err := os.ReadFile(filepath.Join(root, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	// On a busy machine a Server run may come out INVALID (exit 3): the
	// exit code is the stored gate's, whichever it is.
	var gate struct {
		Gate struct {
			ExitCode int `json:"exit_code"`
		} `json:"gate"`
	}
	if err := json.Unmarshal(stored, &gate); err != nil {
		t.Fatal(err)
	}
	if code != gate.Gate.ExitCode {
		t.Errorf("exit %d, but report.json's gate says %d\n%s", code, gate.Gate.ExitCode, stderr)
	}
	js, stderr, code := run(t, nil, "report", root, "--format", "json")
	if code != 0 || js != string(stored) {
		t.Errorf("report --format json: exit %d, output differs from report.json: %v\n%s", code, js != string(stored), stderr)
	}
	md, _ := os.ReadFile(filepath.Join(root, "report.md"))
	if again, _, _ := run(t, nil, "report", root, "--format", "md"); again != string(md) {
		t.Error("report --format md differs from the tree's report.md")
	}

	// Move the tree: its report.json names the old folder.
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.CopyFS(moved, os.DirFS(root)); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "page.html")
	if _, stderr, code := run(t, nil, "report", moved, "--format", "html", "--output", out); code != 0 {
		t.Fatalf("report --format html: exit %d\n%s", code, stderr)
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	if strings.Contains(html, "latency unavailable") || strings.Count(html, "Sample latency CDF") != 2 {
		t.Errorf("the moved tree's latency charts were not drawn (%d CDFs)", strings.Count(html, "Sample latency CDF"))
	}
	if !strings.Contains(html, "Telemetry, side by side") {
		t.Error("no telemetry section")
	}

	x, stderr, code := run(t, nil, "report", moved, "--format", "junit")
	if code != 0 {
		t.Fatalf("report --format junit: exit %d\n%s", code, stderr)
	}
	var doc junitDoc
	if err := xml.Unmarshal([]byte(x), &doc); err != nil {
		t.Fatalf("junit: %v\n%s", err, x)
	}
	if len(doc.Suites) != 1 || doc.Suites[0].Tests != 2 {
		t.Fatalf("junit: %+v, want one suite of 2 cases", doc)
	}
	for _, c := range doc.Suites[0].Cases {
		if c.Classname != "gpuperf.resnet50" || (c.Name != "Offline" && c.Name != "Server") {
			t.Errorf("case %s %s", c.Classname, c.Name)
		}
	}
}

// TestReportPublished writes the reports of a published pair with
// --report-dir, then renders them with report.
func TestReportPublished(t *testing.T) {
	d := mlperfResults(t)
	base := filepath.Join(d, "v4.0/Dell/R760_L40Sx2_TRT")
	cand := filepath.Join(d, "v4.0/Dell/vR760_L40S_48Cx2_TRT")
	out := t.TempDir()
	stdout, stderr, code := run(t, nil, "compare", base, cand, "--format", "junit", "--report-dir", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var doc junitDoc
	if err := xml.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("junit: %v\n%s", err, stdout)
	}
	if len(doc.Suites) != 1 || doc.Suites[0].Tests < 4 {
		t.Errorf("junit suites %+v", doc.Suites)
	}
	if !strings.Contains(stderr, "reports in "+out) {
		t.Errorf("stderr does not say where the reports are:\n%s", stderr)
	}
	for _, f := range []string{"report.json", "report.md", "report.html"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	table, _, code := run(t, nil, "report", out)
	if code != 0 || !strings.Contains(table, "RETAINED") || !strings.Contains(table, "bert-99") {
		t.Errorf("report DIR: exit %d\n%s", code, table)
	}
	page, _, code := run(t, nil, "report", filepath.Join(out, "report.json"), "--format", "html")
	if code != 0 || strings.Count(page, "<svg ") < 5 || !strings.Contains(page, "published MLPerf results carry no telemetry") {
		t.Errorf("report FILE --format html: exit %d, %d charts", code, strings.Count(page, "<svg "))
	}
}

// TestReportTreeWithoutReport: a tree with no report.json is compared
// afresh, and report says so.
func TestReportTreeWithoutReport(t *testing.T) {
	root := storedTree(t)
	stdout, stderr, code := run(t, nil, "report", root)
	if code != 0 || !strings.Contains(stdout, "96.1%") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "compared its runs afresh") {
		t.Errorf("stderr does not say the tree was compared afresh:\n%s", stderr)
	}
}

func TestReportBadInput(t *testing.T) {
	empty := t.TempDir()
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "report.json"), []byte("{\n  \"schema\": \"gpuperf.comparison/v1\",\n  \"scenarios\": [}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "report.json"), []byte(`{"schema": "gpuperf.run/v1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"empty folder", []string{"report", empty}, "no report.json here and not a gpuperf result tree"},
		{"missing folder", []string{"report", filepath.Join(empty, "nope")}, "no such file or directory"},
		{"malformed report.json", []string{"report", bad}, filepath.Join(bad, "report.json") + ":3:"},
		{"another schema", []string{"report", other}, "gpuperf.run/v1"},
		{"unknown format", []string{"report", bad, "--format", "pdf"}, "--format"},
		{"no folder", []string{"report"}, "report takes one folder"},
		{"two folders", []string{"report", empty, bad}, "report takes one folder"},
		// Refused before the embedded plan would start.
		{"compare, unknown format", []string{"compare", "--format", "pdf"}, "--format: unknown report format \"pdf\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, nil, tc.args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, want 2, stderr naming %q:\n%s\n%s", code, tc.want, stdout, stderr)
			}
		})
	}
}
