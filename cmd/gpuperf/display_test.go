package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mattn/go-runewidth"

	"github.com/gpuperf/gpuperf/inference"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
	"github.com/gpuperf/gpuperf/results"
)

// syncBuffer is a bytes.Buffer safe for mpb's drawing goroutine and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// screen replays what the display wrote the way a terminal of a given
// width would: text, \n, \r, cursor up (ESC[nA) and erase in line
// (ESC[K, ESC[2K). Anything else is an error: the display must not use
// erase-below, which tmux turns into a screen clear that pushes the whole
// screen into its scrollback. A line longer than the width wraps, as on a
// terminal.
type screen struct {
	width    int
	lines    []string
	row, col int
}

var escape = regexp.MustCompile(`^\x1b\[(\d*)([A-Za-z])`)

func replay(t *testing.T, out string, width int) *screen {
	t.Helper()
	s := &screen{width: width, lines: []string{""}}
	for len(out) > 0 {
		switch {
		case out[0] == '\x1b':
			m := escape.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("unknown escape %q", out[:min(len(out), 8)])
			}
			n, _ := strconv.Atoi(m[1])
			switch m[2] {
			case "A":
				s.row = max(s.row-max(n, 1), 0)
			case "K":
				if n == 2 {
					s.lines[s.row] = ""
				} else {
					s.lines[s.row] = runewidth.Truncate(s.lines[s.row], s.col, "")
				}
			default:
				t.Fatalf("the display wrote ESC[%s%s", m[1], m[2])
			}
			out = out[len(m[0]):]
		case out[0] == '\n':
			s.newline()
			out = out[1:]
		case out[0] == '\r':
			s.col = 0
			out = out[1:]
		default:
			r := []rune(out[:min(len(out), 4)])[0]
			w := runewidth.RuneWidth(r)
			if s.col+w > s.width {
				s.newline()
			}
			line := []rune(runewidth.FillRight(s.lines[s.row], s.col))
			cells := 0
			i := 0
			for i < len(line) && cells < s.col {
				cells += runewidth.RuneWidth(line[i])
				i++
			}
			rest := ""
			if i < len(line) {
				rest = string(line[i+1:])
			}
			s.lines[s.row] = string(line[:i]) + string(r) + rest
			s.col += w
			out = out[len(string(r)):]
		}
	}
	return s
}

func (s *screen) newline() {
	s.row++
	s.col = 0
	if s.row == len(s.lines) {
		s.lines = append(s.lines, "")
	}
}

func (s *screen) text() string {
	var b strings.Builder
	for _, l := range s.lines {
		if l = strings.TrimRight(l, " "); l != "" {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// drivePlan runs a small plan's display the way the coordinator does, from
// one goroutine per agent, with a log line in the middle, and returns
// what the terminal shows at the end.
func drivePlan(t *testing.T, width int) string {
	t.Helper()
	var out syncBuffer
	tw := &termWriter{out: &out, width: width}
	d := newPlanDisplayOn(&out, 6, 2, []string{"bare-metal-a100", "vm"}, tw)
	ok := func(r results.RunRecord, v float64) results.RunRecord {
		r.Status, r.Valid, r.Metric, r.Value, r.Unit = results.StatusOK, true, "result_samples_per_second", v, "samples/s"
		return r
	}
	for k := range 5 {
		cal := results.RunRecord{Host: "bare-metal-a100", Role: "calibration", Scenario: "Offline", Repetition: k}
		d.RunStarted(cal)
		d.RunProgress(cal, &gpuperfv1.Progress{Phase: "run", ElapsedNs: int64(time.Second), TargetNs: int64(time.Second)})
		d.RunFinished(ok(cal, 1000))
	}
	var wg sync.WaitGroup
	for _, host := range []string{"bare-metal-a100", "vm"} {
		wg.Go(func() {
			for k := range 2 {
				r := results.RunRecord{Host: host, Role: "baseline", Scenario: "Offline", Repetition: k}
				d.RunStarted(r)
				for i := range 20 {
					d.RunProgress(r, &gpuperfv1.Progress{Phase: "run", ElapsedNs: int64(i) * int64(time.Second) / 10, TargetNs: int64(2 * time.Second)})
					time.Sleep(15 * time.Millisecond)
				}
				d.RunFinished(ok(r, 12345.6+float64(k)))
			}
		})
	}
	wg.Wait()
	if _, err := d.Write([]byte("gpuperf: warning: something to say\n")); err != nil {
		t.Fatal(err)
	}
	// An unfinished run (an interrupted plan) must not keep Wait waiting.
	d.RunStarted(results.RunRecord{Host: "vm", Role: "candidate", Scenario: "Server"})
	d.RunProgress(results.RunRecord{Host: "vm", Role: "candidate", Scenario: "Server"},
		&gpuperfv1.Progress{Phase: "probe 3 at 1250 QPS, search 12s of 30s: drain", ElapsedNs: int64(time.Second), TargetNs: int64(time.Second)})
	time.Sleep(300 * time.Millisecond)

	waited := make(chan struct{})
	go func() { d.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(30 * time.Second):
		t.Fatal("Wait did not return")
	}
	s := replay(t, out.String(), width)
	for i, l := range s.lines {
		if w := runewidth.StringWidth(l); w > width {
			t.Errorf("line %d is %d columns wide on a %d-column terminal: %q", i, w, width, l)
		}
	}
	return s.text()
}

// At 80 and 120 columns the display ends as one block, every line within
// the width, each bar still drawn, the log line above the block and no
// stale copy of any line.
func TestPlanDisplayFitsAndLeavesNoStaleLines(t *testing.T) {
	for _, width := range []int{80, 120} {
		t.Run(strconv.Itoa(width), func(t *testing.T) {
			text := drivePlan(t, width)
			t.Logf("the terminal at %d columns:\n%s", width, text)
			for _, want := range []string{
				"gpuperf: warning: something to say",
				"plan ", "4/6",
				"calibrate       Offline      5/5",
				"bare-metal-a100 Offline      2/2",
				"run 2: VALID 12,347 samples/s",
				"vm              Offline      2/2",
				"vm              Server       0/2",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("the screen lacks %q", want)
				}
			}
			for _, once := range []string{"plan ", "calibrate ", "bare-metal-a100 Offline", "vm              Offline", "something to say"} {
				if n := strings.Count(text, once); n != 1 {
					t.Errorf("%q shows %d times; want once", once, n)
				}
			}
			if strings.Index(text, "something to say") > strings.Index(text, "vm              Server") {
				t.Error("the log line is not above the block")
			}
			for _, l := range strings.Split(text, "\n") {
				if strings.Contains(l, "[") && !regexp.MustCompile(`\[[=>-]{8,}`).MatchString(l) {
					t.Errorf("a bar is cut to nothing: %q", l)
				}
			}
		})
	}
}

func TestPhaseText(t *testing.T) {
	for _, c := range []struct {
		phase string
		want  string
	}{
		{"warm-up", "warm-up 1.0s/5.0s"},
		{"run", "timed run 1.0s/5.0s"},
		{"drain", "draining 1.0s/5.0s"},
		{"re-run run", "re-run, timed run 1.0s/5.0s"},
		{"probe 2 at 500 QPS, search 3s of 30s: run", "probe 2 at 500 QPS, search 3s of 30s: timed run 1.0s/5.0s"},
	} {
		if got := phaseText(&gpuperfv1.Progress{Phase: c.phase, ElapsedNs: int64(time.Second), TargetNs: int64(5 * time.Second)}); got != c.want {
			t.Errorf("%q: %q, want %q", c.phase, got, c.want)
		}
	}
}

// bench's line at 80 columns: one line, a bar of at least minBar columns
// that follows the Offline query's samples, and the text cut to fit.
func TestBenchProgressAt80Columns(t *testing.T) {
	var out syncBuffer
	pr := newProgressOn(&termWriter{out: &out, width: 80}, "Offline")
	pr.update(inference.Progress{Phase: "warm-up", Elapsed: time.Second, Target: 5 * time.Second})
	time.Sleep(300 * time.Millisecond)
	for i := range 10 {
		pr.update(inference.Progress{Phase: "run", Elapsed: time.Duration(i) * time.Second, Target: time.Minute,
			Issued: 1, Total: 1, Completed: uint64(i) * 10000, Samples: 100000})
		time.Sleep(30 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	pr.done()
	s := replay(t, out.String(), 80)
	text := s.text()
	t.Logf("bench at 80 columns:\n%s", text)
	if lines := strings.Count(text, "\n"); lines != 1 {
		t.Fatalf("%d lines on screen; want bench's one line", lines)
	}
	bar := regexp.MustCompile(`\[(=*)>?(-*)\]`).FindStringSubmatch(text)
	if bar == nil || len(bar[0]) < minBar {
		t.Fatalf("no bar of %d columns in %q", minBar, text)
	}
	// 90,000 of 100,000 samples: the bar is about nine tenths full.
	if full := float64(len(bar[1])) / float64(len(bar[0])-2); full < 0.75 {
		t.Errorf("bar %q is %.0f%% full at 90%% of the samples", bar[0], 100*full)
	}
	if !strings.Contains(text, "Offline") || !strings.Contains(text, "timed run 9.0s/1m00s") {
		t.Errorf("the line lacks the scenario or the phase: %q", text)
	}
}
