//go:build linux && cgo

package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/gpuperf/gpuperf/agent"
	"github.com/gpuperf/gpuperf/gpu"
	"github.com/gpuperf/gpuperf/gpu/gputest"
	"github.com/gpuperf/gpuperf/gpu/host"
	"github.com/gpuperf/gpuperf/results"
)

// fakeDNS answers A queries for its names from a table on a loopback UDP
// port, as a cluster's DNS answers for a headless Service: one name, an
// address per ready agent. Other names are NXDOMAIN.
func fakeDNS(t *testing.T, records map[string][]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			hdr, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			name := strings.TrimSuffix(strings.ToLower(q.Name.String()), ".")
			addrs, known := records[name]
			rc := dnsmessage.RCodeSuccess
			if !known {
				rc = dnsmessage.RCodeNameError
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: hdr.ID, Response: true, Authoritative: true, RCode: rc})
			b.EnableCompression()
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			if q.Type == dnsmessage.TypeA {
				for _, a := range addrs {
					ip := net.ParseIP(a).To4()
					_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 5},
						dnsmessage.AResource{A: [4]byte(ip)})
				}
			}
			msg, err := b.Finish()
			if err == nil {
				_, _ = pc.WriteTo(msg, from)
			}
		}
	})
	return pc.LocalAddr().String()
}

// fakeHost is one agent of the fleet: where it listens, what its GPU and
// host say, and its labels.
type fakeHost struct {
	ip, fixture string
	virt        nvml.GpuVirtualizationMode
	labels      map[string]string
}

// startFleet serves an agent on ip:port for each host, each on a mock H100
// whose virtualization mode, and a host fixture (gpu/host/testdata) whose
// CPU and firmware, the host gives: its fingerprint's verdict is the one a
// real host of that kind would give.
func startFleet(t *testing.T, port string, hosts []fakeHost) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, h := range hosts {
		rig := gputest.NewRig(t, 1)
		rig.GPUs[0].Virt = h.virt
		n := gpu.OpenLibrary(rig.Server, gpu.Options{})
		t.Cleanup(func() { n.Close() })
		cfg := agent.DefaultConfig()
		// The mock vGPU reports no license; the runs here are on sim.
		cfg.GPU.AllowUnlicensedVGPU = true
		srv, err := agent.NewServer(cfg, "test", slog.New(slog.DiscardHandler),
			agent.WithNVML(n), agent.WithHostRoot(hostFixture(t, h.fixture)), agent.WithLabels(h.labels))
		if err != nil {
			t.Fatal(err)
		}
		ready := make(chan net.Addr, 1)
		errc := make(chan error, 1)
		wg.Go(func() {
			errc <- agent.Serve(ctx, srv, agent.ListenOptions{Addr: net.JoinHostPort(h.ip, port)}, func(a net.Addr) { ready <- a })
		})
		select {
		case <-ready:
		case err := <-errc:
			t.Fatalf("agent on %s: %v", h.ip, err)
		}
	}
}

// hostFixture reads gpu/host's testdata tree name, with the CPUID answer
// its cpuid file holds, and no container markers.
func hostFixture(t *testing.T, name string) host.Options {
	t.Helper()
	root := filepath.Join("..", "gpu", "host", "testdata", name)
	b, err := os.ReadFile(filepath.Join(root, "cpuid"))
	if err != nil {
		t.Fatal(err)
	}
	var c host.CPUID
	for l := range strings.SplitSeq(string(b), "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "hypervisor":
			c.Hypervisor = v == "1"
		case "signature":
			c.Signature = v
		}
	}
	return host.Options{Root: root, CPUID: func() host.CPUID { return c }, Getenv: func(string) string { return "" }}
}

// freePort finds a port free on 127.0.0.2, for every agent of the fleet
// (each listens on its own loopback address).
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// TestDiscoveryEndToEnd resolves one DNS name to five agents on 127.0.0.x,
// bare-metal and vGPU fingerprints mixed, plus an address where nothing
// listens; the selectors build each side from the right hosts, the plan
// runs on them, and the comparison names every host. Selectors that match
// nobody, too few, both sides, or one machine twice are refused naming the
// selector and listing what was found.
func TestDiscoveryEndToEnd(t *testing.T) {
	port := freePort(t)
	metal, vgpu := nvml.GPU_VIRTUALIZATION_MODE_NONE, nvml.GPU_VIRTUALIZATION_MODE_VGPU
	node := func(name, pool string) map[string]string { return map[string]string{NodeLabel: name, "pool": pool} }
	startFleet(t, port, []fakeHost{
		{"127.0.0.2", "baremetal", metal, node("node-a", "metal")},
		{"127.0.0.3", "vmware", vgpu, node("node-b", "vks")},
		{"127.0.0.4", "baremetal", metal, node("node-c", "metal")},
		{"127.0.0.5", "vmware", vgpu, node("node-d", "vks")},
		// A second agent on node-a's machine, in a vGPU VM of its own.
		{"127.0.0.6", "vmware", vgpu, node("node-a", "twin")},
	})
	dns := fakeDNS(t, map[string][]string{
		"gpuperf-agents.gpuperf.test": {"127.0.0.5", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.6", "127.0.0.9", "127.0.0.2"},
		"empty.gpuperf.test":          {},
	})
	target := fmt.Sprintf("dns://%s/gpuperf-agents.gpuperf.test:%s", dns, port)

	discoveryPlan := func(out, agents string) *Plan {
		t.Helper()
		yaml := nullPlan(out, agents, "order: sequential\n")
		yaml = strings.Replace(yaml, "scenarios: [offline, single-stream]", "scenarios: [offline]", 1)
		return loadPlan(t, yaml)
	}

	t.Run("pools", func(t *testing.T) {
		out := t.TempDir()
		p := discoveryPlan(out, fmt.Sprintf(`
  discover: %q
  insecure: true
  baseline: {virtualization: none}
  candidate: {virtualization: vgpu, labels: {pool: vks}}
  per_side: 2`, target))
		res, err := p.ResolveDiscovery(context.Background(), DiscoverOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var found []string
		for _, f := range res.Found {
			found = append(found, f.Address+"="+f.Role)
			if f.Address == net.JoinHostPort("127.0.0.9", port) && f.Error == "" {
				t.Errorf("nothing listens on 127.0.0.9, yet it was described: %+v", f)
			}
		}
		// Once per address, in address order; the dead one listed too.
		if want := []string{"2=baseline", "3=candidate", "4=baseline", "5=candidate", "6=", "9="}; len(found) != len(want) {
			t.Fatalf("found %q, want %q", found, want)
		} else {
			for i, w := range want {
				ip, role, _ := strings.Cut(w, "=")
				if found[i] != net.JoinHostPort("127.0.0."+ip, port)+"="+role {
					t.Errorf("found[%d] = %s, want 127.0.0.%s as %q", i, found[i], ip, role)
				}
			}
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("the resolved plan: %v", err)
		}
		r := &Runner{Plan: p, PlanYAML: []byte("discovered"), Version: "test", RunID: "r1"}
		tree, m, err := r.Execute(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// Each side's runs are on its own hosts, and each host's stored
		// description is the agent's at that address.
		byName := map[string]results.Host{}
		for _, h := range m.Hosts {
			byName[h.Name] = h
		}
		for name, want := range map[string]string{"node-a": "127.0.0.2", "node-c": "127.0.0.4", "node-b": "127.0.0.3", "node-d": "127.0.0.5"} {
			if h := byName[name]; h.Address != net.JoinHostPort(want, port) {
				t.Errorf("host %s at %q, want %s", name, h.Address, want)
			}
		}
		c, err := results.Compare(tree, m, results.Options{})
		if err != nil {
			t.Fatal(err)
		}
		names := func(s results.Side) []string {
			var n []string
			for _, h := range s.Hosts {
				n = append(n, h.Name)
			}
			return n
		}
		if b, c := names(c.Baseline), names(c.Candidate); !slices.Equal(b, []string{"node-a", "node-c"}) || !slices.Equal(c, []string{"node-b", "node-d"}) {
			t.Errorf("comparison sides %v / %v, want node-a, node-c / node-b, node-d", b, c)
		}
		// The fingerprints the comparison read are those of the hosts the
		// selectors asked for.
		for _, s := range []struct {
			side     results.Side
			platform string
		}{{c.Baseline, "bare_metal"}, {c.Candidate, "vgpu_vm"}} {
			for _, h := range s.side.Hosts {
				var fp gpu.Fingerprint
				if err := json.Unmarshal(h.Fingerprint, &fp); err != nil {
					t.Fatalf("%s: %v", h.Name, err)
				}
				if got := fp.Virtualization.Verdict.Platform; got != s.platform {
					t.Errorf("%s (%s): platform %s, want %s", h.Name, s.side.Role, got, s.platform)
				}
			}
		}
		for _, r := range m.Runs {
			if r.Status != results.StatusOK {
				t.Errorf("run %+v", r)
			}
		}
	})

	for _, tc := range []struct {
		name, agents string
		want         []string
	}{
		{"nobody", `
  baseline: {virtualization: none}
  candidate: {virtualization: passthrough}`,
			[]string{"agents.candidate: {virtualization: passthrough} matches no agent", "found 6:",
				"127.0.0.3:" + port + " node-b: virtualization vgpu, 1× NVIDIA H100 80GB HBM3, labels pool=vks",
				"127.0.0.9:" + port + " unreachable"}},
		{"too few", `
  baseline: {virtualization: none}
  candidate: {virtualization: vgpu}
  per_side: 3`,
			[]string{"agents.baseline: {virtualization: none} matches 2 agent(s), per_side wants 3"}},
		{"both sides", `
  baseline: {gpu: h100}
  candidate: {labels: {pool: vks}}`,
			[]string{"matches both baseline {gpu: h100} and candidate {labels: {pool: vks}}"}},
		{"one machine", `
  baseline: {labels: {pool: metal}}
  candidate: {labels: {pool: twin}}`,
			[]string{"machine node-a is on both sides: baseline 127.0.0.2:" + port + " and candidate 127.0.0.6:" + port}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := discoveryPlan(t.TempDir(), fmt.Sprintf("\n  discover: %q\n  insecure: true", target)+tc.agents)
			_, err := p.ResolveDiscovery(context.Background(), DiscoverOptions{})
			t.Log(err)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T), want a FieldError", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if len(p.Agents) != 0 {
				t.Errorf("agents filled despite the error: %+v", p.Agents)
			}
		})
	}

	t.Run("no address", func(t *testing.T) {
		for _, name := range []string{"empty.gpuperf.test", "absent.gpuperf.test"} {
			p := discoveryPlan(t.TempDir(), fmt.Sprintf(`
  discover: "dns://%s/%s:%s"
  insecure: true
  baseline: {virtualization: none}
  candidate: {virtualization: vgpu}`, dns, name, port))
			_, err := p.ResolveDiscovery(context.Background(), DiscoverOptions{})
			var fe *FieldError
			if err == nil || errors.As(err, &fe) || !strings.Contains(err.Error(), name) {
				t.Errorf("%s: error %v, want a lookup error naming it", name, err)
			}
		}
	})
}
