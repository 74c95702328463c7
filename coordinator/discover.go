package coordinator

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-viper/mapstructure/v2"

	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

// Discovery is the mapping form of a plan's agents: the sides named by what
// the hosts are rather than where they are. Every address the name resolves
// to is described, and each side is built from the agents whose
// fingerprint and labels match its selector:
//
//	agents:
//	  discover: dns:///gpuperf-agents.gpuperf.svc:7070
//	  baseline: {virtualization: none}
//	  candidate: {virtualization: vgpu, gpu: H100}
//	  per_side: 2
//	  tls: {ca: ca.crt, cert: tls.crt, key: tls.key}
//	  token_file: token
type Discovery struct {
	// Target is gRPC's DNS target syntax: dns:///NAME:PORT, or
	// dns://SERVER/NAME:PORT to ask one DNS server. The port defaults to
	// the agent's, 7070.
	Target    string    `mapstructure:"discover"`
	Baseline  *Selector `mapstructure:"baseline"`
	Candidate *Selector `mapstructure:"candidate"`
	// PerSide is how many agents each side takes (default 1): more makes a
	// pool comparison, every host shown in the report.
	PerSide int `mapstructure:"per_side"`
	// Credentials for every agent found, as for one agent. With TLS and no
	// server_name the certificate must name the DNS name (the Helm chart's
	// certificate does).
	TokenFile string   `mapstructure:"token_file"`
	TLS       *TLSSpec `mapstructure:"tls"`
	Insecure  bool     `mapstructure:"insecure"`
}

// Selector says which agents belong on a side. Every criterion given must
// hold; an empty selector is refused, since it would match every agent.
type Selector struct {
	// Virtualization is how the host's GPUs are attached, from the
	// fingerprint's verdict: none (bare metal), passthrough or vgpu.
	Virtualization string `mapstructure:"virtualization"`
	// GPU matches a GPU model: every GPU's name must contain it, ignoring
	// case ("H100" matches "NVIDIA H100 80GB HBM3" and "NVIDIA H100XM-40C").
	GPU string `mapstructure:"gpu"`
	// Labels must all be among the agent's (gpuperf agent --label, or a
	// Kubernetes label the chart passes down), with these values.
	Labels map[string]string `mapstructure:"labels"`
}

// Virtualization values a selector takes, and the fingerprint verdicts
// (gpu/host's Verdict.Platform) each stands for.
var selectorVirtualization = map[string]string{
	"none":        "bare_metal",
	"passthrough": "passthrough_vm",
	"vgpu":        "vgpu_vm",
}

// defaultAgentPort is the port of agent.DefaultAddr.
const defaultAgentPort = "7070"

// NodeLabel is the label naming the machine an agent runs on: the Helm
// chart passes the Kubernetes node's name in it. Without it an agent's
// machine is the hostname it reports.
const NodeLabel = "kubernetes.io/hostname"

// discoveryHook decodes the mapping form of agents into *out and leaves the
// list empty, so a plan's agents may be either form. Its problems are named
// agents.FIELD.
func discoveryHook(out **Discovery) mapstructure.DecodeHookFuncValue {
	target := reflect.TypeFor[[]AgentSpec]()
	return func(from, to reflect.Value) (any, error) {
		if to.Type() != target || from.Kind() != reflect.Map {
			return from.Interface(), nil
		}
		wrap := struct {
			Agents Discovery `mapstructure:"agents"`
		}{Agents: Discovery{PerSide: 1}}
		dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
			ErrorUnused: true, DecodeHook: wholeNumbers, Result: &wrap,
		})
		if err != nil {
			return nil, err
		}
		if err := dec.Decode(map[string]any{"agents": from.Interface()}); err != nil {
			return nil, err
		}
		*out = &wrap.Agents
		return []AgentSpec{}, nil
	}
}

// resolvePaths makes the discovery's file paths relative to the plan's
// folder, as an agent's are.
func (d *Discovery) resolvePaths(dir string) {
	resolve := func(path string) string {
		if path == "" || filepath.IsAbs(path) {
			return path
		}
		return filepath.Join(dir, path)
	}
	d.TokenFile = resolve(d.TokenFile)
	if d.TLS != nil {
		d.TLS.CA = resolve(d.TLS.CA)
		d.TLS.Cert = resolve(d.TLS.Cert)
		d.TLS.Key = resolve(d.TLS.Key)
	}
}

// dnsTarget is a parsed discovery target.
type dnsTarget struct {
	server string // host:port of the DNS server to ask; empty asks the system's
	name   string
	port   string
}

// parseTarget reads dns:[//SERVER/]NAME[:PORT].
func parseTarget(t string) (dnsTarget, error) {
	rest, ok := strings.CutPrefix(t, "dns:")
	if !ok {
		return dnsTarget{}, fmt.Errorf("want dns:///NAME:PORT (or dns://DNS-SERVER/NAME:PORT), got %q", t)
	}
	var d dnsTarget
	if after, ok := strings.CutPrefix(rest, "//"); ok {
		server, hostport, found := strings.Cut(after, "/")
		if !found {
			return dnsTarget{}, fmt.Errorf("%q: want dns:///NAME:PORT, with three slashes unless a DNS server is named", t)
		}
		if server != "" {
			if _, _, err := net.SplitHostPort(server); err != nil {
				server = net.JoinHostPort(server, "53")
			}
			d.server = server
		}
		rest = hostport
	}
	d.name, d.port = rest, defaultAgentPort
	if h, p, err := net.SplitHostPort(rest); err == nil {
		d.name, d.port = h, p
	}
	if n, err := strconv.Atoi(d.port); err != nil || n < 1 || n > 65535 {
		return dnsTarget{}, fmt.Errorf("%q: port %q is not a number in 1..65535", t, d.port)
	}
	if d.name == "" || strings.ContainsAny(d.name, "/ ") {
		return dnsTarget{}, fmt.Errorf("%q: no DNS name", t)
	}
	return d, nil
}

// checkAgentsOrDiscovery checks the list form as always, or the discovery
// form, and the list it was resolved to once it has been.
func (p *Plan) checkAgentsOrDiscovery(c *checker) {
	if p.Discovery == nil {
		p.checkAgents(c)
		return
	}
	p.checkDiscovery(c)
	if len(p.Agents) > 0 {
		p.checkAgents(c)
	}
}

func (p *Plan) checkDiscovery(c *checker) {
	d := p.Discovery
	t, err := parseTarget(d.Target)
	if err != nil {
		c.add("agents.discover", "%v", err)
	}
	switch {
	case p.Baseline != "" && d.Baseline != nil:
		c.add("agents.baseline", "a stored baseline (baseline: %s) replaces baseline agents; leave out the selector", p.Baseline)
	case p.Baseline == "" && d.Baseline == nil:
		c.add("agents.baseline", "a selector is needed (such as {virtualization: none}), or a stored baseline folder in baseline")
	}
	if d.Candidate == nil {
		c.add("agents.candidate", "a selector is needed (such as {virtualization: vgpu})")
	}
	for _, s := range []struct {
		field string
		sel   *Selector
	}{{"agents.baseline", d.Baseline}, {"agents.candidate", d.Candidate}} {
		if s.sel == nil {
			continue
		}
		if s.sel.Virtualization == "" && s.sel.GPU == "" && len(s.sel.Labels) == 0 {
			c.add(s.field, "an empty selector matches every agent: give virtualization, gpu or labels")
		}
		if v := s.sel.Virtualization; v != "" && selectorVirtualization[v] == "" {
			c.add(s.field+".virtualization", "must be none, passthrough or vgpu, got %q", v)
		}
	}
	if d.PerSide < 1 {
		c.add("agents.per_side", "must be at least 1, got %d", d.PerSide)
	}
	c.credentials("agents", d.TokenFile, d.TLS, d.Insecure)
	if err == nil && d.TLS == nil && !d.Insecure && !isLoopback(t.name) {
		c.add("agents.discover", "%s is not a loopback name: plaintext to the agents it names needs insecure: true, or tls", t.name)
	}
}

// FoundAgent is one address discovery described, and what the selectors
// saw of it.
type FoundAgent struct {
	Address string `json:"address"`
	// Host is the machine: the agent's NodeLabel, else its hostname.
	Host           string            `json:"host,omitempty"`
	Hostname       string            `json:"hostname,omitempty"`
	Virtualization string            `json:"virtualization,omitempty"` // none, passthrough, vgpu, or the verdict's word
	Verdict        string            `json:"verdict,omitempty"`        // the fingerprint's summary line
	GPUs           []string          `json:"gpus,omitempty"`
	GPUUUIDs       []string          `json:"gpu_uuids,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	// Error says why the agent could not be described; such an agent is
	// on no side.
	Error string `json:"error,omitempty"`
	// Role and Name are set for the agents a side took.
	Role string `json:"role,omitempty"`
	Name string `json:"name,omitempty"`
}

// DiscoveryResult is what ResolveDiscovery found; it is stored in the
// result tree as discovery.json.
type DiscoveryResult struct {
	Schema string       `json:"schema"`
	Target string       `json:"target"`
	Found  []FoundAgent `json:"found"`
}

// DiscoverySchema versions DiscoveryResult's JSON.
const DiscoverySchema = "gpuperf.discovery/v1"

// maxDescribing bounds the Describe calls discovery makes at once.
const maxDescribing = 32

// DiscoverOptions tune ResolveDiscovery; the zero value is the real thing.
type DiscoverOptions struct {
	// Timeout bounds the DNS lookup and each agent's Describe (default
	// 10 s).
	Timeout time.Duration
}

// ResolveDiscovery resolves the plan's discovery target, describes every
// agent found, and fills Agents with the agents each side's selector
// takes, in the list form the rest of the coordinator runs. A lookup that
// fails or finds nothing is a plain error; a selector that matches too few
// agents, an agent that matches both sides, and one machine on both sides
// are *FieldErrors naming the selector and listing what was found. The
// result lists every address found either way.
func (p *Plan) ResolveDiscovery(ctx context.Context, o DiscoverOptions) (*DiscoveryResult, error) {
	d := p.Discovery
	if d == nil {
		return nil, nil
	}
	if o.Timeout <= 0 {
		o.Timeout = describeTimeout
	}
	t, err := parseTarget(d.Target)
	if err != nil {
		return nil, err
	}
	res := &DiscoveryResult{Schema: DiscoverySchema, Target: d.Target}
	lctx, cancel := context.WithTimeout(ctx, o.Timeout)
	addrs, err := t.resolver().LookupHost(lctx, t.name)
	cancel()
	if err != nil {
		return res, fmt.Errorf("%s: %w", d.Target, err)
	}
	addrs = uniqueAddrs(addrs)
	if len(addrs) == 0 {
		return res, fmt.Errorf("%s: the name resolves to no address (no agent is ready?)", d.Target)
	}
	res.Found = make([]FoundAgent, len(addrs))
	var wg sync.WaitGroup
	// A few dozen at once: a large fleet answers in seconds without a
	// burst of hundreds of handshakes.
	slots := make(chan struct{}, maxDescribing)
	for i, a := range addrs {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			res.Found[i] = describeFound(ctx, d, t, net.JoinHostPort(a, t.port), o.Timeout)
		})
	}
	wg.Wait()

	file := p.source
	if file == "" {
		file = "plan"
	}
	problem := func(field, format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		return &FieldError{File: file, Field: field, Problem: msg + "; " + foundList(d.Target, res.Found)}
	}
	type side struct {
		field, role string
		sel         *Selector
		idx         []int
	}
	sides := []*side{{"agents.baseline", RoleBaseline, d.Baseline, nil}, {"agents.candidate", RoleCandidate, d.Candidate, nil}}
	for _, s := range sides {
		if s.sel == nil {
			continue
		}
		for i, f := range res.Found {
			if f.Error == "" && s.sel.matches(f) {
				s.idx = append(s.idx, i)
			}
		}
	}
	if b, c := sides[0], sides[1]; b.sel != nil {
		for _, i := range b.idx {
			if slices.Contains(c.idx, i) {
				f := res.Found[i]
				return res, problem("agents", "%s (%s) matches both baseline %s and candidate %s: make the selectors exclusive",
					f.Address, f.Host, b.sel, c.sel)
			}
		}
	}
	for _, s := range sides {
		if s.sel == nil {
			continue
		}
		if len(s.idx) < d.PerSide {
			what := "no agent"
			if len(s.idx) > 0 {
				what = fmt.Sprintf("%d agent(s), per_side wants %d", len(s.idx), d.PerSide)
			}
			return res, problem(s.field, "%s matches %s", s.sel, what)
		}
		// The same machines every night: by host name, then address.
		slices.SortStableFunc(s.idx, func(a, b int) int {
			return cmp.Or(cmp.Compare(res.Found[a].Host, res.Found[b].Host), cmp.Compare(res.Found[a].Address, res.Found[b].Address))
		})
		s.idx = s.idx[:d.PerSide]
	}
	if err := sameMachine(res.Found, sides[0].idx, sides[1].idx, problem); err != nil {
		return res, err
	}

	used := map[string]bool{}
	var agents []AgentSpec
	for _, s := range sides {
		for _, i := range s.idx {
			f := &res.Found[i]
			f.Role, f.Name = s.role, uniqueName(agentName(*f), used)
			agents = append(agents, d.spec(t, *f))
		}
	}
	p.Agents = agents
	return res, nil
}

// sameMachine refuses a machine, or a physical GPU, on both sides: the
// comparison would measure a host against itself.
func sameMachine(found []FoundAgent, base, cand []int, problem func(field, format string, args ...any) error) error {
	for _, i := range base {
		for _, j := range cand {
			b, c := found[i], found[j]
			if b.Host != "" && strings.EqualFold(b.Host, c.Host) {
				return problem("agents", "machine %s is on both sides: baseline %s and candidate %s", b.Host, b.Address, c.Address)
			}
			for _, u := range b.GPUUUIDs {
				if slices.Contains(c.GPUUUIDs, u) {
					return problem("agents", "GPU %s is on both sides: baseline %s and candidate %s", u, b.Address, c.Address)
				}
			}
		}
	}
	return nil
}

// resolver is the system's, or one that asks the target's DNS server.
func (t dnsTarget) resolver() *net.Resolver {
	if t.server == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, t.server)
	}}
}

// uniqueAddrs drops repeats and sorts addresses numerically.
func uniqueAddrs(addrs []string) []string {
	parsed := make([]netip.Addr, 0, len(addrs))
	var other []string
	for _, a := range addrs {
		if ip, err := netip.ParseAddr(a); err == nil {
			parsed = append(parsed, ip.Unmap())
		} else {
			other = append(other, a)
		}
	}
	slices.SortFunc(parsed, netip.Addr.Compare)
	parsed = slices.Compact(parsed)
	out := make([]string, 0, len(parsed)+len(other))
	for _, ip := range parsed {
		out = append(out, ip.String())
	}
	slices.Sort(other)
	return append(out, slices.Compact(other)...)
}

// spec is the agent a side took, with the discovery's credentials.
func (d *Discovery) spec(t dnsTarget, f FoundAgent) AgentSpec {
	a := AgentSpec{Name: f.Name, Address: f.Address, Role: f.Role, Host: strings.ToLower(f.Host),
		TokenFile: d.TokenFile, Insecure: d.Insecure}
	if d.TLS != nil {
		tls := *d.TLS
		if tls.ServerName == "" {
			// Dialled by address, the agent is known by the name.
			tls.ServerName = t.name
		}
		a.TLS = &tls
	}
	return a
}

// describeFound dials one address and describes it.
func describeFound(ctx context.Context, d *Discovery, t dnsTarget, addr string, timeout time.Duration) FoundAgent {
	f := FoundAgent{Address: addr}
	conn, err := dial(d.spec(t, f))
	if err != nil {
		f.Error = err.Error()
		return f
	}
	defer conn.Close()
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	desc, err := gpuperfv1.NewAgentClient(conn).Describe(dctx, &gpuperfv1.DescribeRequest{})
	if err != nil {
		f.Error = "describe: " + describeStatus(err).Error()
		return f
	}
	f.Hostname, f.Labels = desc.GetHostname(), desc.GetLabels()
	f.Host = cmp.Or(f.Labels[NodeLabel], f.Hostname)
	var fp fingerprintFacts
	if err := json.Unmarshal(desc.GetFingerprintJson(), &fp); err != nil {
		f.Error = "fingerprint: " + err.Error()
		return f
	}
	f.Verdict = fp.Virtualization.Verdict.Summary
	f.Virtualization = fp.Virtualization.Verdict.Platform
	for word, platform := range selectorVirtualization {
		if platform == f.Virtualization {
			f.Virtualization = word
		}
	}
	for _, g := range fp.GPUs {
		f.GPUs = append(f.GPUs, g.Name)
		if g.UUID != "" {
			f.GPUUUIDs = append(f.GPUUUIDs, g.UUID)
		}
	}
	return f
}

// fingerprintFacts is the part of gpu.Fingerprint's JSON selectors read.
type fingerprintFacts struct {
	GPUs []struct {
		Name string `json:"name"`
		UUID string `json:"uuid"`
	} `json:"gpus"`
	Virtualization struct {
		Verdict struct {
			Platform string `json:"platform"`
			Summary  string `json:"summary"`
		} `json:"verdict"`
	} `json:"virtualization"`
}

func (s *Selector) matches(f FoundAgent) bool {
	if s.Virtualization != "" && f.Virtualization != s.Virtualization {
		return false
	}
	if s.GPU != "" {
		if len(f.GPUs) == 0 {
			return false
		}
		for _, g := range f.GPUs {
			if !strings.Contains(strings.ToLower(g), strings.ToLower(s.GPU)) {
				return false
			}
		}
	}
	for k, v := range s.Labels {
		if got, ok := f.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// String writes the selector as the plan would: {virtualization: vgpu, gpu: H100, labels: {pool: vks}}.
func (s *Selector) String() string {
	var parts []string
	if s.Virtualization != "" {
		parts = append(parts, "virtualization: "+s.Virtualization)
	}
	if s.GPU != "" {
		parts = append(parts, "gpu: "+s.GPU)
	}
	if len(s.Labels) > 0 {
		parts = append(parts, "labels: {"+labelList(s.Labels, ": ")+"}")
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func labelList(labels map[string]string, sep string) string {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		kv = append(kv, k+sep+labels[k])
	}
	return strings.Join(kv, ", ")
}

// foundList describes every address found, for an error.
func foundList(target string, found []FoundAgent) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s found %d:", target, len(found))
	for _, f := range found {
		b.WriteString("\n  " + f.Address)
		if f.Error != "" {
			b.WriteString(" unreachable: " + f.Error)
			continue
		}
		fmt.Fprintf(&b, " %s: virtualization %s", cmp.Or(f.Host, "?"), cmp.Or(f.Virtualization, "unknown"))
		if len(f.GPUs) == 0 {
			b.WriteString(", no GPU visible")
		} else {
			fmt.Fprintf(&b, ", %s", gpuList(f.GPUs))
		}
		// The node label is the host already shown.
		if others := maps.Clone(f.Labels); len(others) > 0 {
			delete(others, NodeLabel)
			if len(others) > 0 {
				b.WriteString(", labels " + labelList(others, "="))
			}
		}
	}
	return b.String()
}

// gpuList counts GPUs by model: "2× NVIDIA H100 80GB HBM3".
func gpuList(names []string) string {
	var order []string
	n := map[string]int{}
	for _, g := range names {
		if n[g] == 0 {
			order = append(order, g)
		}
		n[g]++
	}
	var parts []string
	for _, g := range order {
		parts = append(parts, fmt.Sprintf("%d× %s", n[g], g))
	}
	return strings.Join(parts, ", ")
}

// agentName is the agent's folder in the result tree: its machine's name,
// made safe.
func agentName(f FoundAgent) string {
	raw := cmp.Or(f.Host, f.Hostname, f.Address)
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '-'
	}, raw)
	if !validName(name) {
		name = "agent"
	}
	return name
}

// uniqueName appends -2, -3, ... to a name already used.
func uniqueName(name string, used map[string]bool) string {
	out := name
	for k := 2; used[out]; k++ {
		out = fmt.Sprintf("%s-%d", name, k)
	}
	used[out] = true
	return out
}
