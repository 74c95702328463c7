package spelling

import "testing"

func TestNearest(t *testing.T) {
	known := []string{"version", "agents", "repetitions", "order", "server", "role"}
	for name, want := range map[string]string{
		"repetitons": "repetitions", "agent": "agents", "ordr": "order", "colour": "", "severs": "server", "x": "",
	} {
		if got := Nearest(name, known); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", name, got, want)
		}
	}
	if d := Distance("kitten", "sitting"); d != 3 {
		t.Errorf("Distance = %d, want 3", d)
	}
}
