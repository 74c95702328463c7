package results

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/internal/testpaths"
)

// FuzzDecodeResult decodes arbitrary result.json files: an *InputError
// naming the file, or a result whose headline values are within their
// bounds. The committed corpus (testdata/fuzz) holds a real result.json.
func FuzzDecodeResult(f *testing.F) {
	f.Add([]byte(`{"schema":"gpuperf.result/v1","metric":{"name":"m","value":1e308}}`))
	f.Add([]byte(`{"metric":{"value":1000},"samples_per_second":1000,"effective":{"target_qps":12.5}}`))
	f.Add([]byte(`{"metric":{"value":100000000000000000000000000000000000}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeResult("result.json", data)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) || ie.File != "result.json" {
				t.Fatalf("error %v does not name the file", err)
			}
			return
		}
		for _, v := range []float64{r.Metric.Value, r.SamplesPerSecond, r.CompletedSamplesPerSecond, r.Effective.TargetQPS} {
			if !(v >= 0 && v <= MaxHeadline) {
				t.Fatalf("headline %v accepted", v)
			}
		}
	})
}

// FuzzDecodeManifest decodes arbitrary run.json files: an error, or a
// manifest whose finished runs all name folders inside the tree.
func FuzzDecodeManifest(f *testing.F) {
	f.Add([]byte(`{"schema":"gpuperf.run/v1","hosts":[{"name":"a","role":"baseline"}],"runs":[{"host":"a","status":"ok","dir":"a/resnet50/Offline/performance/run_1"}]}`))
	f.Add([]byte(`{"schema":"gpuperf.run/v1","hosts":[{"name":"..","role":"baseline"}],"runs":[{"host":"a","status":"ok","dir":"../../../etc"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeManifest("run.json", data)
		if err != nil {
			return
		}
		root := filepath.Join(string(filepath.Separator), "tree")
		for _, r := range m.Runs {
			if r.Status != StatusOK {
				continue
			}
			p := filepath.Join(root, r.Dir)
			if !strings.HasPrefix(p, root+string(filepath.Separator)) {
				t.Fatalf("run folder %q leads outside the tree to %s", r.Dir, p)
			}
		}
		for _, h := range m.Hosts {
			if !safeName.MatchString(h.Name) {
				t.Fatalf("host %q accepted", h.Name)
			}
		}
	})
}

// FuzzParseSystem reads arbitrary published system descriptions
// (systems/<name>.json): never a panic, and a GPU count of at least one
// that no overflow has made negative.
func FuzzParseSystem(f *testing.F) {
	f.Add([]byte(`{"submitter":"Dell","system_name":"R760","accelerators_per_node":"2","number_of_nodes":1,"accelerator_model_name":"L40S"}`))
	f.Add([]byte(`{"accelerators_per_node":9223372036854775807,"number_of_nodes":9223372036854775807}`))
	f.Add([]byte(`{"accelerators_per_node":" 0x10 "}`))
	if dir, err := filepath.Glob(filepath.Join(mlperfRoot(f), "*", "*", "systems", "*.json")); err == nil {
		for _, p := range dir[:min(len(dir), 8)] {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		hi := ParseSystem("systems/x.json", data)
		if hi.GPUs < 1 || hi.GPUs > maxAccelerators*maxAccelerators {
			t.Fatalf("GPUs %d from %q", hi.GPUs, data)
		}
	})
}

// mlperfRoot is the shared published results, or "" without them.
func mlperfRoot(f *testing.F) string {
	p := filepath.Join(testpaths.ModuleRoot(f), "..", "shared", "testdata", "mlperf")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}
