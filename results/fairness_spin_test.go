package results

import (
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/inference"
)

// TestFairnessSpin: Server runs whose generators waited under different
// --spin policies differ materially; the same policy, or policies that
// only Offline runs recorded, do not; a run recorded before --spin
// existed spun as always does now.
func TestFairnessSpin(t *testing.T) {
	hosts := []fxHost{
		{name: "bm", role: RoleBaseline, fingerprint: "baremetal"},
		{name: "vm", role: RoleCandidate, fingerprint: "passthrough"},
	}
	spin := func(p inference.SpinPolicy) func(*inference.Result) {
		return func(r *inference.Result) {
			r.Requested.GeneratorSpin = p
			if r.Effective.Scenario == inference.Server {
				r.Health.Wait = &inference.WaitHealth{Spin: p}
			}
		}
	}
	before := func(r *inference.Result) { r.Requested.GeneratorSpin = "" }
	runs := func(sc inference.Scenario, base, cand func(*inference.Result)) []fxRun {
		var out []fxRun
		for k := range 2 {
			out = append(out,
				fxRun{host: "bm", sc: sc, rep: k, value: 1000, mod: base},
				fxRun{host: "vm", sc: sc, rep: k, value: 990, mod: cand})
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		runs       []fxRun
		material   bool
		base, cand string
	}{
		{"auto against never", runs(inference.Server, spin(inference.SpinAuto), spin(inference.SpinNever)), true, "auto", "never"},
		{"auto on both sides", runs(inference.Server, spin(inference.SpinAuto), spin(inference.SpinAuto)), false, "auto", "auto"},
		{"before --spin against auto", runs(inference.Server, before, spin(inference.SpinAuto)), true, "always (recorded before --spin)", "auto"},
		{"before --spin against always", runs(inference.Server, before, spin(inference.SpinAlways)), false, "always (recorded before --spin)", "always"},
		{"Offline does not wait", runs(inference.Offline, spin(inference.SpinAlways), spin(inference.SpinNever)), false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := CheckFairness(fxTree(t, hosts, tc.runs, Options{}))
			it, ok := item(f, "generator.spin")
			if tc.base == "" {
				if ok {
					t.Fatalf("an Offline comparison has a spin item: %+v", it)
				}
				return
			}
			if !ok || it.Baseline != tc.base || it.Candidate != tc.cand || it.Material != tc.material {
				t.Fatalf("generator.spin = %+v (present %v); want %q vs %q, material %v\n%s", it, ok, tc.base, tc.cand, tc.material, dumpFairness(f))
			}
			if tc.material && !strings.Contains(it.Note, "--spin") {
				t.Errorf("note %q does not name --spin", it.Note)
			}
			// The policy is its own item, never a settings difference.
			for _, x := range f.Items {
				if strings.HasPrefix(x.Key, "loadgen.") && x.Material {
					t.Errorf("%s is material: %s", x.Key, x.Note)
				}
			}
		})
	}
}
