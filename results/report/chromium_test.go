package report

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromium finds a headless-capable Chromium (Debian's chromium package),
// or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed (apt-get install chromium; .ci/run installs it): the HTML report is not checked in a browser")
	return ""
}

// runChromium runs headless Chromium on file with extra flags and returns
// its standard output.
func runChromium(t *testing.T, bin, file string, flags ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir()}, flags...)
	cmd := exec.CommandContext(ctx, bin, append(args, "file://"+file)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(flags, " "), err, errb.String())
	}
	return out.Bytes()
}

// TestHTMLInChromium opens the fixed comparison's report in headless
// Chromium: the DOM it builds holds every chart with its plotted marks and
// text, and a screenshot shows the charts drawn in the sides' colours.
func TestHTMLInChromium(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, render(t, HTML, fixedComparison(), Options{Runs: fakeRuns{}}), 0o644); err != nil {
		t.Fatal(err)
	}

	dom := string(runChromium(t, bin, file, "--dump-dom"))
	svgs := regexp.MustCompile(`(?s)<svg\b.*?</svg>`).FindAllString(dom, -1)
	// The retained chart; per scenario its repetitions, its latency CDF
	// and both sides' telemetry, but the candidate's MultiStream (no NVML).
	if want := 1 + 4*4 - 1; len(svgs) != want {
		t.Fatalf("the DOM holds %d <svg> charts, want %d", len(svgs), want)
	}
	for i, s := range svgs {
		// Axes, ticks, grid and data are paths; every chart has text.
		if n := strings.Count(s, "<path "); n < 20 {
			t.Errorf("chart %d has %d paths: nothing plotted?", i, n)
		}
		if !strings.Contains(s, "<text ") {
			t.Errorf("chart %d has no text", i)
		}
	}
	for _, text := range []string{"Retained performance per scenario", "98.6% [98.2, 99.0] equivalent", "Sample latency CDF",
		"baseline run 1: SM clock", "Host CPU steal", "telemetry unavailable: NVML unavailable"} {
		if !strings.Contains(dom, text) {
			t.Errorf("the rendered page lacks %q", text)
		}
	}

	// A screenshot of the page, and of the same page with its charts cut
	// out: the sides' line colours and the "lower" verdict's red must
	// cover far more of the first (the page itself uses them only for
	// borders and tags).
	withCharts := screenshot(t, bin, file)
	bare := filepath.Join(dir, "bare.html")
	page, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bare, regexp.MustCompile(`(?s)<svg\b.*?</svg>`).ReplaceAll(page, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	without := screenshot(t, bin, bare)
	if withCharts.nonWhite < 0.05 {
		t.Errorf("only %.1f%% of the screenshot is not white: blank page?", 100*withCharts.nonWhite)
	}
	// The lines of one side cover a few thousand pixels in the first
	// screen; the red is the threshold line and the Server's interval.
	for _, c := range []struct {
		name           string
		with, not, min int
	}{
		{"baseline blue", withCharts.baseline, without.baseline, 2000},
		{"candidate orange", withCharts.candidate, without.candidate, 2000},
		{"lower red", withCharts.red, without.red, 200},
	} {
		if c.with-c.not < c.min {
			t.Errorf("%s: %d pixels with the charts, %d without: the charts did not render", c.name, c.with, c.not)
		}
	}
}

// screenshot takes a 1280×3600 screenshot of file and counts its pixels.
func screenshot(t *testing.T, bin, file string) stats {
	t.Helper()
	shot := strings.TrimSuffix(file, ".html") + ".png"
	runChromium(t, bin, file, "--hide-scrollbars", "--window-size=1280,3600", "--screenshot="+shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 3600 {
		t.Fatalf("screenshot is %v, want 1280×3600", b)
	}
	return pixelStats(img)
}

type stats struct {
	nonWhite                 float64
	baseline, candidate, red int
}

// pixelStats counts the share of non-white pixels and the pixels near
// the baseline's, the candidate's and the "lower" verdict's colours.
func pixelStats(img image.Image) stats {
	var s stats
	b := img.Bounds()
	near := func(r, g, bl uint32, want [3]int) bool {
		d := func(a uint32, w int) int { return max(int(a>>8)-w, w-int(a>>8)) }
		return d(r, want[0]) < 40 && d(g, want[1]) < 40 && d(bl, want[2]) < 40
	}
	nonWhite := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 < 245 || g>>8 < 245 || bl>>8 < 245 {
				nonWhite++
			}
			switch {
			case near(r, g, bl, [3]int{31, 119, 180}):
				s.baseline++
			case near(r, g, bl, [3]int{255, 127, 14}):
				s.candidate++
			case near(r, g, bl, [3]int{214, 39, 40}):
				s.red++
			}
		}
	}
	s.nonWhite = float64(nonWhite) / float64(b.Dx()*b.Dy())
	return s
}
