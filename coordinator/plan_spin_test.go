package coordinator

import (
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/inference"
)

// TestPlanSpinSetting: a plan sets the generator's --spin policy as the
// setting generator_spin, and a policy the generator does not know is a
// plan error naming the key.
func TestPlanSpinSetting(t *testing.T) {
	s := inference.DefaultTestSettings()
	if err := (Workload{Settings: map[string]any{"generator_spin": "never"}}).ApplySettings(&s); err != nil || s.GeneratorSpin != inference.SpinNever {
		t.Fatalf("ApplySettings: %v, generator_spin %q", err, s.GeneratorSpin)
	}
	err := (Workload{Settings: map[string]any{"generator_spin": 1}}).ApplySettings(&s)
	if want := "workload.settings.generator_spin: want text, got 1"; !strings.Contains(fmtErr(err), want) {
		t.Errorf("ApplySettings(1) = %v; want %q", err, want)
	}
	dir := t.TempDir()
	path := writeFile(t, dir, "plan.yaml", planYAML(map[string]string{"workload": "{backend: cpu, settings: {generator_spin: sometimes}}"}))
	_, err = loadAndValidate(path, nil)
	if want := `workload.settings.generator_spin: unknown spin policy "sometimes" (want auto, always or never)`; !strings.Contains(fmtErr(err), want) {
		t.Errorf("plan with generator_spin sometimes: %v; want %q", err, want)
	}
}
