package cuda

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/inference/backend/cuda/kernels"
)

// TestLaunchesMatchPTX checks every launch the backend builds against the
// committed PTX: the kernel exists, takes as many parameters, and each
// 4-byte parameter gets a value that fits in 4 bytes (the driver reads
// only that much of it).
func TestLaunchesMatchPTX(t *testing.T) {
	files, err := fs.Glob(kernels.PTX, "*.ptx")
	if err != nil || len(files) == 0 {
		t.Fatalf("no PTX: %v", err)
	}
	var all []byte
	for _, f := range files {
		b, err := kernels.PTX.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), ".target sm_80") || !strings.Contains(string(b), ".version 7.0") {
			t.Errorf("%s: not PTX ISA 7.0 for sm_80", f)
		}
		all = append(all, b...)
	}
	var launches []launch
	for _, dt := range []DType{FP32, FP16} {
		launches = append(launches,
			gemmLaunch(dt, 1<<40, 2<<40, 3<<40, 4<<40, 5<<40, 37, 53, 29, epiGELU|epiResidual),
			attentionLaunch(dt, 1<<40, 2<<40, 3, 19, 4, 16),
			layerNormLaunch(dt, 1<<40, 2<<40, 3<<40, 4<<40, 57, 48),
			embedLaunch(dt, 1<<40, 2<<40, 3<<40, 4<<40, 5<<40, 6<<40, 57, 19, 48, 97))
	}
	launches = append(launches, emptyLaunch())
	seen := map[string]bool{}
	for _, l := range launches {
		sizes, ok := ptxParams(all, l.fn)
		if !ok {
			t.Errorf("%s: not in the PTX", l.fn)
			continue
		}
		seen[l.fn] = true
		if len(sizes) != len(l.args) {
			t.Errorf("%s: %d arguments; the PTX declares %d", l.fn, len(l.args), len(sizes))
			continue
		}
		for i, sz := range sizes {
			if sz == 4 && l.args[i]>>32 != 0 {
				t.Errorf("%s: argument %d is %#x, for a 4-byte parameter", l.fn, i, l.args[i])
			}
		}
		if l.block%32 != 0 || l.block > 1024 || l.smem > 48<<10 {
			t.Errorf("%s: block %d, %d bytes of shared memory", l.fn, l.block, l.smem)
		}
	}
	for _, name := range ptxEntries(all) {
		if !seen[name] {
			t.Errorf("kernel %s in the PTX is never launched", name)
		}
	}
}

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig(map[string]string{"layers": "2", "hidden": "64", "heads": "4", "seq": "33", "dtype": "fp32", "graphs": "true", "streams": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if c.FFN != 256 || c.DType != FP32 || !c.Graphs || c.Streams != 3 || c.headDim() != 16 {
		t.Errorf("ParseConfig() = %+v", c)
	}
	if c, err := ParseConfig(nil); err != nil || c != DefaultConfig() {
		t.Errorf("ParseConfig(nil) = %+v, %v; want the defaults", c, err)
	}
	for opts, want := range map[string]string{
		"hidden=100,heads=3": "the width must divide into the heads",
		"seq=4000":           "attention needs",
		"dtype=int8":         `option dtype="int8": want fp16 or fp32`,
		"layers=0":           "layers=0: want at least 1",
		"depth=2":            `unknown option "depth"`,
		"vocab=100000000":    "weights; want at most",
		"device=-1":          "want a device ordinal",
	} {
		kv := map[string]string{}
		for _, p := range strings.Split(opts, ",") {
			k, v, _ := strings.Cut(p, "=")
			kv[k] = v
		}
		if _, err := ParseConfig(kv); err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "cuda: ") {
			t.Errorf("ParseConfig(%s) = %v; want %q", opts, err, want)
		}
	}
}
