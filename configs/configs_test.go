package configs_test

import (
	"bytes"
	"testing"

	"github.com/gpuperf/gpuperf/agent"
	"github.com/gpuperf/gpuperf/configs"
)

func TestDefaultPlanIsACopy(t *testing.T) {
	a := configs.DefaultPlan()
	if !bytes.HasPrefix(a, []byte("# The default plan")) {
		t.Fatalf("DefaultPlan() starts %q", a[:min(len(a), 40)])
	}
	a[0] = 'X'
	if b := configs.DefaultPlan(); b[0] != '#' {
		t.Error("changing DefaultPlan's result changed the embedded plan")
	}
}

// TestAgentExample loads agent.yaml as `gpuperf agent --config` does: every
// backend it names must build with its options.
func TestAgentExample(t *testing.T) {
	c, err := agent.LoadConfig("agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range c.Backends {
		names = append(names, b.Name)
	}
	if len(names) != 5 || names[0] != "sim-a100" {
		t.Errorf("backends = %v", names)
	}
}
