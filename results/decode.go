package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/results/mlperflog"
)

// Size caps on the files gpuperf reads from a stored tree: far above what
// gpuperf writes, far below what would exhaust memory.
const (
	MaxResultBytes   = 64 << 20  // result.json
	MaxManifestBytes = 256 << 20 // run.json (200,000 runs take about 80 MiB)
	MaxHostBytes     = 16 << 20  // host.json, hypervisor.json, systems/*.json
	MaxLogBytes      = 256 << 20 // MLPerf summary and detail logs, telemetry.csv
	// MaxRuns bounds the runs of one run.json.
	MaxRuns = 1_000_000
)

// Magnitudes a number in a stored file may have. A value past them is an
// error, not a number to compute with: 1e308 samples/s would print a
// 300-digit retained share.
const (
	// MaxMagnitude bounds every non-integer number of a JSON file.
	MaxMagnitude = 1e18
	// MaxHeadline bounds a headline value (samples/s, tokens/s, latency
	// in ns): a trillion samples per second, or eleven days.
	MaxHeadline = 1e15
)

// readCapped reads name from root, refusing a file larger than limit
// without reading it. path names the file in errors.
func readCapped(root *os.Root, name, path string, limit int64) ([]byte, error) {
	// Stat first: opening a FIFO or a device would block or never end.
	if st, err := root.Stat(name); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d allowed", path, st.Size(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: more than the %d bytes allowed", path, limit)
	}
	return b, nil
}

// readFileCapped is readCapped for a path outside any tree (a published
// system's files, named by the user).
func readFileCapped(path string, limit int64) ([]byte, error) {
	root, err := os.OpenRoot(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return readCapped(root, filepath.Base(path), path, limit)
}

// lineOf is the line of byte offset off in data.
func lineOf(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	return bytes.Count(data[:off], []byte("\n")) + 1
}

// jsonError turns a decoding error into one naming file and line.
func jsonError(name string, data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return &InputError{File: name, Line: lineOf(data, se.Offset), Err: err}
	case errors.As(err, &te):
		return &InputError{File: name, Line: lineOf(data, te.Offset), Err: err}
	}
	return &InputError{File: name, Err: err}
}

// checkJSONNumbers scans data's numbers: an integer must fit in 64 bits,
// any other number must be within MaxMagnitude. JSON's grammar already
// makes them decimal and finite.
func checkJSONNumbers(name string, data []byte) error {
	line := 1
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case c == '\n':
			line++
		case c == '"':
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(data) && bytes.IndexByte([]byte("0123456789.eE+-"), data[j]) >= 0 {
				j++
			}
			lit := string(data[i:j])
			if err := checkNumber(lit); err != nil {
				return &InputError{File: name, Line: line, Err: err}
			}
			i = j - 1
		}
	}
	return nil
}

func checkNumber(lit string) error {
	if !strings.ContainsAny(lit, ".eE") {
		if _, err := strconv.ParseInt(lit, 10, 64); err == nil {
			return nil
		}
		if _, err := strconv.ParseUint(lit, 10, 64); err == nil {
			return nil
		}
		return fmt.Errorf("number %s does not fit in 64 bits", abbreviate(lit))
	}
	v, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.Abs(v) > MaxMagnitude {
		return fmt.Errorf("number %s is beyond ±%g", abbreviate(lit), MaxMagnitude)
	}
	return nil
}

// abbreviate shortens a long literal for a message.
func abbreviate(s string) string {
	if len(s) <= 32 {
		return s
	}
	return s[:16] + "…(" + strconv.Itoa(len(s)) + " characters)"
}

// headlineField is a value compare reads from a result.
type headlineField struct {
	path []string // JSON keys
	v    float64
}

// DecodeResult decodes a result.json strictly: well-formed JSON, numbers
// within their magnitudes, headline values non-negative and at most
// MaxHeadline. Errors are *InputError naming name and the line.
func DecodeResult(name string, data []byte) (*inference.Result, error) {
	if err := checkJSONNumbers(name, data); err != nil {
		return nil, err
	}
	var r inference.Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, jsonError(name, data, err)
	}
	for _, f := range []headlineField{
		{[]string{"metric", "value"}, r.Metric.Value},
		{[]string{"samples_per_second"}, r.SamplesPerSecond},
		{[]string{"completed_samples_per_second"}, r.CompletedSamplesPerSecond},
		{[]string{"scheduled_samples_per_second"}, r.ScheduledSamplesPerSecond},
		{[]string{"target_latency_ns"}, float64(r.TargetLatencyNs)},
		{[]string{"effective", "target_qps"}, r.Effective.TargetQPS},
	} {
		if !(f.v >= 0 && f.v <= MaxHeadline) {
			return nil, &InputError{File: name, Line: keyLine(data, f.path),
				Err: fmt.Errorf("%s %g is outside 0..%g", strings.Join(f.path, "."), f.v, MaxHeadline)}
		}
	}
	return &r, nil
}

// keyLine finds the line of a key path in a JSON object; 0 when absent.
// It walks tokens, so it is for error messages only.
func keyLine(data []byte, path []string) int {
	dec := json.NewDecoder(bytes.NewReader(data))
	depth, want := 0, 0
	expectKey := false
	var stack []bool // true for objects
	for {
		tok, err := dec.Token()
		if err != nil {
			return 0
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, true)
				depth++
				expectKey = true
				continue
			case '[':
				stack = append(stack, false)
				depth++
			default:
				stack = stack[:len(stack)-1]
				depth--
				if want > depth {
					want = depth
				}
			}
		case string:
			if expectKey && len(stack) > 0 && stack[len(stack)-1] {
				if want == depth-1 && want < len(path) && t == path[want] {
					want++
					if want == len(path) {
						return lineOf(data, dec.InputOffset())
					}
				}
				expectKey = false
				continue
			}
		}
		// A value ends: the next string in an object is a key.
		expectKey = len(stack) > 0 && stack[len(stack)-1]
	}
}

// DecodeManifest decodes a run.json strictly: well-formed JSON of the
// right schema, numbers within their magnitudes, at most MaxRuns runs,
// every host and run folder a name inside the tree. Errors are
// *InputError naming name and the line.
func DecodeManifest(name string, data []byte) (*Manifest, error) {
	if err := checkJSONNumbers(name, data); err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, jsonError(name, data, err)
	}
	if m.Schema != ManifestSchema {
		return nil, &InputError{File: name, Line: keyLine(data, []string{"schema"}), Err: fmt.Errorf("schema %q, want %q", m.Schema, ManifestSchema)}
	}
	if len(m.Runs) > MaxRuns {
		return nil, &InputError{File: name, Err: fmt.Errorf("%d runs, more than the %d allowed", len(m.Runs), MaxRuns)}
	}
	bad := func(format string, args ...any) error {
		return &InputError{File: name, Err: fmt.Errorf(format, args...)}
	}
	for i, h := range m.Hosts {
		if !safeName.MatchString(h.Name) {
			return nil, bad("hosts[%d].name %q: not a folder name of the tree (letters, digits, '.', '_' and '-')", i, h.Name)
		}
	}
	for i, r := range m.Runs {
		if r.Status == StatusOK {
			if err := CheckRunDir(r.Dir); err != nil {
				return nil, bad("runs[%d].dir: %v", i, err)
			}
		}
		if r.Dir != "" && !strings.HasPrefix(r.Dir, r.Host+string(filepath.Separator)) && r.Status == StatusOK {
			return nil, bad("runs[%d].dir %q is not under its host %q", i, r.Dir, r.Host)
		}
		if !(math.Abs(r.Value) <= MaxHeadline) {
			return nil, bad("runs[%d].value %g is beyond ±%g", i, r.Value, MaxHeadline)
		}
		if r.Repetition < 0 || r.Repetition >= MaxRuns || r.Attempts < 0 || r.Attempts > MaxRuns {
			return nil, bad("runs[%d]: repetition %d or attempts %d out of range", i, r.Repetition, r.Attempts)
		}
	}
	return &m, nil
}

// CheckRunDir checks a run folder named by a stored run.json: a relative
// path of folder names inside the tree, the shape RunDir gives.
func CheckRunDir(rel string) error {
	if rel == "" {
		return errors.New("run has no folder")
	}
	if !filepath.IsLocal(rel) || filepath.Clean(rel) != rel {
		return fmt.Errorf("%q is not a path inside the tree", rel)
	}
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		if !safeName.MatchString(part) {
			return fmt.Errorf("%q: %q is not a folder name of the tree (letters, digits, '.', '_' and '-')", rel, part)
		}
	}
	return nil
}

// runFileNames are the files a run folder holds, the only ones imported.
var runFileNames = map[string]bool{
	mlperflog.SummaryFile: true, mlperflog.DetailFile: true, mlperflog.ResultFile: true,
	telemetryCSV: true, VGPUHostFile: true,
}

// isNotExist reports a missing file, as os.Root reports one.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
