package mlperflog

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// addFiles seeds f with the testdata files matching pattern.
func addFiles(f *testing.F, pattern string) {
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds %s: %v", pattern, err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzReadSummary reads arbitrary summaries: an error naming a line, or a
// summary whose numbers are decimal, finite and within MaxMagnitude.
func FuzzReadSummary(f *testing.F) {
	addFiles(f, "*.summary.txt")
	f.Add([]byte("Scenario : Offline\nSamples per second: 0x1p10\nResult is : VALID\nNo errors encountered during test.\n"))
	f.Add([]byte("Scenario : Offline\nSamples per second: 6_603.3\nResult is : INVALID\n1 ERROR encountered during test.\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ReadSummary(bytes.NewReader(data))
		if err != nil {
			if _, ok := err.(*LineError); !ok {
				t.Fatalf("error %T %v is not a *LineError", err, err)
			}
			return
		}
		if s.Valid != (s.Validity.Value == "VALID") {
			t.Fatalf("Valid %v for %q", s.Valid, s.Validity.Value)
		}
		for _, fld := range s.Fields {
			if v, err := s.Float(fld); err == nil && (math.IsNaN(v) || math.Abs(v) > MaxMagnitude) {
				t.Fatalf("%q read as %v", fld.Value, v)
			}
		}
	})
}

// FuzzReadDetail reads arbitrary detail logs: an error, or values whose
// Float is finite and within MaxMagnitude.
func FuzzReadDetail(f *testing.F) {
	addFiles(f, "*.detail.txt")
	f.Add([]byte(`:::MLLOG {"key": "result_samples_per_second", "value": inf, "time_ms": 0}` + "\n"))
	f.Add([]byte(`:::MLLOG {"key": "result_samples_per_second", "value": 1e308, "time_ms": 0}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ReadDetail(bytes.NewReader(data))
		if err != nil {
			return
		}
		for k := range d.Values {
			if v, ok := d.Float(k); ok && (math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > MaxMagnitude) {
				t.Fatalf("%s read as %v", k, v)
			}
			if d.Lines[k] < 1 {
				t.Fatalf("%s has no line", k)
			}
		}
	})
}
