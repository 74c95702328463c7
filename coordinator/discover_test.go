package coordinator

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestDiscoveryPlanDecodes(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "secrets/token", "t0ken\n")
	writeFile(t, dir, "secrets/ca.crt", "x")
	path := writeFile(t, dir, "plan.yaml", planYAML(map[string]string{"agents": `
  discover: dns:///gpuperf-agents.gpuperf.svc:7070
  baseline: {virtualization: none, gpu: H100}
  candidate: {virtualization: vgpu, labels: {pool: vks}}
  token_file: secrets/token
  tls: {ca: secrets/ca.crt}`}))
	p, err := LoadPlan(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := p.Discovery
	if d == nil || len(p.Agents) != 0 {
		t.Fatalf("discovery %+v, agents %+v", d, p.Agents)
	}
	if d.Target != "dns:///gpuperf-agents.gpuperf.svc:7070" || d.PerSide != 1 || d.Baseline.GPU != "H100" || d.Candidate.Labels["pool"] != "vks" {
		t.Errorf("discovery = %+v", d)
	}
	if d.TokenFile != filepath.Join(dir, "secrets/token") || d.TLS.CA != filepath.Join(dir, "secrets/ca.crt") {
		t.Errorf("paths not resolved against the plan's folder: %q %q", d.TokenFile, d.TLS.CA)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
}

func TestDiscoveryPlanProblems(t *testing.T) {
	for _, tc := range []struct {
		agents, extra string
		want          []string
	}{
		{"{discover: 'dns:///a.b:7070', baseline: {virtualization: none}, candidate: {virtualization: vgpu}, colour: red}", "",
			[]string{"agents.colour: unknown field (known: discover, baseline, candidate, per_side, token_file, tls, insecure)"}},
		{"{discover: 'dns:///a.b:7070', baseline: {virtualisation: none}, candidate: {virtualization: vgpu}}", "",
			[]string{"agents.baseline.virtualisation: unknown field"}},
		{"{discover: 'dns:///a.b:7070', baseline: {virtualization: none}, candidate: {virtualization: vgpu}, per_side: 1.5}", "",
			[]string{"agents.per_side", "want an integer"}},
	} {
		_, err := ParsePlan("plan.yaml", []byte(planYAML(map[string]string{"agents": tc.agents})))
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %v; want it to say %q", tc.agents, err, w)
			}
		}
	}

	for _, tc := range []struct {
		agents, extra string
		want          []string
	}{
		{"{discover: 'a.b:7070', baseline: {virtualization: none}, candidate: {virtualization: vgpu}, insecure: true}", "",
			[]string{"agents.discover: want dns:///NAME:PORT"}},
		{"{discover: 'dns://a.b:7070', baseline: {virtualization: none}, candidate: {virtualization: vgpu}, insecure: true}", "",
			[]string{"agents.discover", "three slashes"}},
		{"{discover: 'dns:///a.b:99999', baseline: {virtualization: none}, candidate: {virtualization: vgpu}, insecure: true}", "",
			[]string{"agents.discover", "port \"99999\""}},
		{"{discover: 'dns:///a.b:7070', baseline: {virtualization: bare}, candidate: {}, per_side: 0, insecure: true}", "",
			[]string{"agents.baseline.virtualization: must be none, passthrough or vgpu, got \"bare\"",
				"agents.candidate: a selector is needed", "agents.per_side: must be at least 1, got 0"}},
		{"{discover: 'dns:///a.b:7070', baseline: {virtualization: none}, candidate: {gpu: ''}, insecure: true}", "",
			[]string{"agents.candidate: an empty selector matches every agent"}},
		{"{discover: 'dns:///a.b:7070', baseline: {virtualization: none}, insecure: true}", "",
			[]string{"agents.candidate: a selector is needed"}},
		{"{discover: 'dns:///a.b:7070', baseline: {virtualization: none}, candidate: {virtualization: vgpu}}", "",
			[]string{"agents.discover: a.b is not a loopback name: plaintext to the agents it names needs insecure: true, or tls"}},
		{"{discover: 'dns:///a.b:7070', baseline: {virtualization: none}, candidate: {virtualization: vgpu}, token_file: nope, insecure: true}", "",
			[]string{"agents.token_file"}},
	} {
		p, err := ParsePlan(filepath.Join(t.TempDir(), "plan.yaml"), []byte(planYAML(map[string]string{"agents": tc.agents})))
		if err != nil {
			t.Fatalf("%s: %v", tc.agents, err)
		}
		err = p.Validate()
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %v; want it to say %q", tc.agents, err, w)
			}
		}
	}
}

func TestDiscoveryWithStoredBaseline(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "stored/run.json", "{}")
	agents := "{discover: 'dns:///localhost', candidate: {virtualization: vgpu}}"
	p, err := ParsePlan(filepath.Join(dir, "plan.yaml"), []byte(planYAML(map[string]string{"agents": agents, "baseline": "stored", "order": "sequential"})))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("a candidate selector beside a stored baseline: %v", err)
	}
	agents = "{discover: 'dns:///localhost', baseline: {virtualization: none}, candidate: {virtualization: vgpu}}"
	p, err = ParsePlan(filepath.Join(dir, "plan.yaml"), []byte(planYAML(map[string]string{"agents": agents, "baseline": "stored", "order": "sequential"})))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "agents.baseline: a stored baseline") {
		t.Errorf("both: %v", err)
	}
}

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]dnsTarget{
		"dns:///gpuperf-agents.gpuperf.svc:7070": {name: "gpuperf-agents.gpuperf.svc", port: "7070"},
		"dns:///gpuperf-agents":                  {name: "gpuperf-agents", port: "7070"},
		"dns:agents.lab:9000":                    {name: "agents.lab", port: "9000"},
		"dns://10.96.0.10/agents.lab:7070":       {server: "10.96.0.10:53", name: "agents.lab", port: "7070"},
		"dns://127.0.0.1:5353/agents.lab":        {server: "127.0.0.1:5353", name: "agents.lab", port: "7070"},
	} {
		got, err := parseTarget(in)
		if err != nil || got != want {
			t.Errorf("%s: %+v, %v; want %+v", in, got, err, want)
		}
	}
}
