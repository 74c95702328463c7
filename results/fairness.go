package results

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gpuperf/gpuperf/gpu"
	"github.com/gpuperf/gpuperf/gpu/host"
	"github.com/gpuperf/gpuperf/inference"
)

// Fairness is the preflight of a comparison: the two sides' fingerprints
// side by side, item by item, before any number is compared. A material
// difference is one that by rule changes what the numbers mean (another GPU
// model, driver major, backend, model or seeds, power limit, ECC, MIG, an
// unlicensed vGPU); --strict refuses to compare when there is any.
type Fairness struct {
	Items []FairnessItem `json:"items"`
	// MaterialDifferences counts the items with Material set.
	MaterialDifferences int `json:"material_differences"`
	// SamePhysicalGPU is "yes" when both sides report the same GPU serial
	// numbers, "no" when they report different ones, "unknown" when a side
	// reports none.
	SamePhysicalGPU string `json:"same_physical_gpu"`
}

// FairnessItem is one fingerprint field on both sides.
type FairnessItem struct {
	// Key is a stable identifier (gpu.model, driver.version, ...); Label
	// says it in words.
	Key   string `json:"key"`
	Label string `json:"label"`
	// Baseline and Candidate are the values as printed; "" when the side
	// does not report the field.
	Baseline  string `json:"baseline"`
	Candidate string `json:"candidate"`
	// Same: both sides report the same value (or both report none).
	Same bool `json:"same"`
	// Material: the difference changes what the comparison means.
	Material bool `json:"material"`
	// Note explains a material difference or qualifies the comparison of
	// the values (e.g. "major 550 vs 535").
	Note string `json:"note,omitempty"`
}

// Values of Fairness.SamePhysicalGPU.
const (
	SameGPUYes     = "yes"
	SameGPUNo      = "no"
	SameGPUUnknown = "unknown"
)

// CheckFairness diffs the two sides' fingerprints item by item: the
// hosts' fingerprints (gpuperf host.json, or MLPerf systems/<system>.json)
// and, for gpuperf trees, what every finished run recorded (backend and
// its options, the load generator's settings and seeds, the GPU state
// before the run). Items neither side reports are left out. Material
// differences are decided by rule (see the rule functions below and
// docs/comparison-schema.md); perGPU makes a GPU count difference
// immaterial, since the numbers are divided by it.
func CheckFairness(c *Comparison) *Fairness {
	b := collectFacts(c.cache, c.Baseline, c.Scenarios, RoleBaseline)
	k := collectFacts(c.cache, c.Candidate, c.Scenarios, RoleCandidate)
	x := &fairCtx{perGPU: c.Settings.PerGPU, base: b, cand: k}
	f := &Fairness{Items: []FairnessItem{}, SamePhysicalGPU: samePhysicalGPU(b, k)}
	seen := map[string]bool{}
	add := func(key, label string, rule fairRule) {
		if seen[key] {
			return
		}
		seen[key] = true
		bv, kv := b.vals[key], k.vals[key]
		if bv == "" && kv == "" {
			return
		}
		it := FairnessItem{Key: key, Label: label, Baseline: bv, Candidate: kv, Same: bv == kv}
		switch {
		case it.Same:
		case (bv == "" || kv == "") && oneSided[key]:
			it.Material, it.Note = rule(bv, kv, x)
		case (bv == "" || kv == "") && rule != nil && strings.HasPrefix(key, "backend.option.") && b.vals["backend"] == k.vals["backend"]:
			// One side set an option the other left at the backend's
			// default: a difference unless the default is that value.
			it = defaultedOption(it, rule, x, b.effectiveOpts && k.effectiveOpts)
		case bv == "" || kv == "":
			it.Note = "not reported by the " + map[bool]string{true: RoleBaseline, false: RoleCandidate}[bv == ""]
		case rule != nil:
			it.Material, it.Note = rule(bv, kv, x)
		}
		if it.Material {
			f.MaterialDifferences++
		}
		f.Items = append(f.Items, it)
	}
	for _, s := range fairCatalog {
		add(s.key, s.label, s.rule)
	}
	// Items only some sides have (backend options, serving facts, settings
	// per scenario), in the order first seen.
	for _, fs := range []*sideFacts{b, k} {
		for _, key := range fs.extra {
			add(key, fs.labels[key], fs.rules[key])
		}
	}
	for _, sc := range c.Scenarios {
		name := sc.Benchmark + " " + sc.Scenario
		bs, ks := b.settings[name], k.settings[name]
		if bs == nil || ks == nil {
			continue
		}
		it := settingsItem(name, bs, ks)
		if it.Material {
			f.MaterialDifferences++
		}
		f.Items = append(f.Items, it)
	}
	return f
}

// defaultedOption judges a backend option set on one side only. With
// both sides' effective options an option one side lacks is one its
// backend does not have, which the rule judges as it stands; otherwise
// the unset side ran the backend's default, which is a difference unless
// it equals the other side's value, and only the backend knows it.
func defaultedOption(it FairnessItem, rule fairRule, x *fairCtx, effective bool) FairnessItem {
	unset := RoleBaseline
	if it.Baseline != "" {
		unset = RoleCandidate
	}
	if effective {
		it.Material, it.Note = rule(it.Baseline, it.Candidate, x)
		return it
	}
	set := cmpOr(it.Baseline, it.Candidate)
	it.Baseline, it.Candidate = cmpOr(it.Baseline, "(backend default)"), cmpOr(it.Candidate, "(backend default)")
	it.Material, it.Note = rule(it.Baseline, it.Candidate, x)
	it.Note = strings.TrimPrefix(fmt.Sprintf("%s; the %s ran the backend's default, which matches %s only if the default is that value (these results do not record the backend's effective options)", it.Note, unset, set), "; ")
	return it
}

// settingsItem compares one scenario's requested LoadGen settings and
// profile: identical settings print a summary (profile, mode, seeds);
// different ones print only the fields that differ. The seeds are
// compared repetition by repetition, since repetition k of both sides
// runs seed set k; the hints and query counts gpuperf derives by
// calibration are informational, never material: a plan compared with
// itself differs in them by the calibration's own noise.
func settingsItem(name string, b, c *scenSettings) FairnessItem {
	it := FairnessItem{Key: "loadgen." + name, Label: "LoadGen settings and seeds, " + name}
	var diff, derived []string
	if !slices.Equal(b.profiles, c.profiles) {
		diff = append(diff, "profile")
	}
	keys := map[string]bool{}
	for _, m := range append(slices.Clone(b.settings), c.settings...) {
		for k := range m {
			keys[k] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		differs := b.field(k) != c.field(k) || b.varies(k) || c.varies(k)
		switch {
		case seedKeys[k]:
			differs = seedsDiffer2(b, c, k)
		case derivedKeys[k] && differs:
			derived = append(derived, k)
			continue
		}
		if differs {
			diff = append(diff, k)
		}
	}
	show := func(s *scenSettings, keys []string) string {
		var parts []string
		for _, k := range keys {
			if k == "profile" {
				parts = append(parts, "profile="+strings.Join(s.profiles, "/"))
				continue
			}
			parts = append(parts, k+"="+s.field(k))
		}
		return strings.Join(parts, ", ")
	}
	derivedNote := ""
	if len(derived) > 0 {
		derivedNote = "gpuperf derived " + strings.Join(derived, ", ") + " by calibrating each side's baseline (informational: the runs' validity and the comparability checks judge them)"
	}
	switch {
	case len(diff) == 0 && len(derived) == 0:
		it.Same = true
		it.Baseline = b.summary()
		it.Candidate = c.summary()
	case len(diff) == 0:
		it.Baseline, it.Candidate = show(b, derived), show(c, derived)
		it.Note = derivedNote
	default:
		it.Baseline, it.Candidate = show(b, append(diff, derived...)), show(c, append(diff, derived...))
		it.Material = true
		it.Note = "both sides need the same settings and seeds; differs in " + strings.Join(diff, ", ")
		if derivedNote != "" {
			it.Note += "; " + derivedNote
		}
	}
	return it
}

// seedKeys are the settings that hold seeds: repetition k runs seed set k
// on both sides, so they are compared repetition by repetition.
var seedKeys = map[string]bool{"qsl_rng_seed": true, "sample_index_rng_seed": true, "schedule_rng_seed": true, effectiveSeeds: true}

// derivedKeys are the settings gpuperf's calibration sets on the
// baseline and hands to both sides: hints and query counts.
var derivedKeys = map[string]bool{
	"offline_expected_qps": true, "server_target_qps": true, "single_stream_expected_latency_ns": true,
	"multi_stream_expected_latency_ns": true, "min_query_count": true, "max_query_count": true,
}

// seedsDiffer2 compares a seed setting repetition by repetition where both
// sides ran the repetition, else as the sets of values each side ran.
func seedsDiffer2(b, c *scenSettings, k string) bool {
	common := false
	for rep, bm := range b.byRep {
		cm, ok := c.byRep[rep]
		if !ok {
			continue
		}
		common = true
		bj, _ := json.Marshal(bm[k])
		cj, _ := json.Marshal(cm[k])
		if string(bj) != string(cj) {
			return true
		}
	}
	if common {
		return false
	}
	bv, cv := slices.Sorted(slices.Values(b.values(k))), slices.Sorted(slices.Values(c.values(k)))
	return !slices.Equal(slices.Compact(bv), slices.Compact(cv))
}

// scenSettings are one side's requested settings of one scenario, as its
// runs recorded them (several when runs disagree).
type scenSettings struct {
	profiles []string
	settings []map[string]any
	raw      []string
	// byRep are the settings of each repetition (1-based), seeds and all.
	byRep map[int]map[string]any
	// seedSets are the seed sets the runs drew from, in order.
	seedSets []int
}

func (s *scenSettings) add(profile string, rep int, req inference.TestSettings, eff inference.EffectiveSettings, seedSet int) {
	if !slices.Contains(s.profiles, profile) {
		s.profiles = append(s.profiles, profile)
	}
	if !slices.Contains(s.seedSets, seedSet) {
		s.seedSets = append(s.seedSets, seedSet)
	}
	js, err := json.Marshal(req)
	if err != nil {
		return
	}
	var m map[string]any
	// Numbers as written: a 64-bit seed does not survive float64.
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if dec.Decode(&m) == nil {
		// The seeds that ran (a requested 0 takes LoadGen's default).
		m[effectiveSeeds] = fmt.Sprintf("%d/%d/%d", eff.QSLRNGSeed, eff.SampleIndexRNGSeed, eff.ScheduleRNGSeed)
		// The spin policy has its own item (generator.spin), which knows
		// the generator before it and that only Server waits.
		delete(m, "generator_spin")
		if s.byRep == nil {
			s.byRep = map[int]map[string]any{}
		}
		s.byRep[rep] = m
		js, _ = json.Marshal(m)
		if slices.Contains(s.raw, string(js)) {
			return
		}
		s.raw = append(s.raw, string(js))
		s.settings = append(s.settings, m)
	}
}

// field is a setting's value; values that differ between runs are joined
// with " / ".
func (s *scenSettings) field(k string) string {
	return joinDistinct(s.values(k), " / ")
}

// varies reports a setting whose value differs between the side's runs.
func (s *scenSettings) varies(k string) bool {
	v := s.values(k)
	return len(v) > 1 && slices.ContainsFunc(v, func(x string) bool { return x != v[0] })
}

func (s *scenSettings) values(k string) []string {
	var vals []string
	for _, m := range s.settings {
		js, _ := json.Marshal(m[k])
		vals = append(vals, string(js))
	}
	return vals
}

// effectiveSeeds is the pseudo-setting holding the effective qsl, sample
// index and schedule seeds.
const effectiveSeeds = "effective_seeds"

func (s *scenSettings) summary() string {
	seeds := strings.Trim(s.field(effectiveSeeds), `"`)
	if len(s.seedSets) > 1 || (len(s.seedSets) == 1 && s.seedSets[0] != 0) {
		seeds = fmt.Sprintf("seed set k in repetition k (%d sets), the same on both sides", len(s.seedSets))
	} else {
		seeds += " (qsl/sample index/schedule)"
	}
	return fmt.Sprintf("identical: profile %s, mode %s, seeds %s",
		strings.Join(s.profiles, "/"), strings.Trim(s.field("mode"), `"`), seeds)
}

// Material reports the items that differ materially.
func (f *Fairness) Material() []FairnessItem {
	if f == nil {
		return nil
	}
	var out []FairnessItem
	for _, it := range f.Items {
		if it.Material {
			out = append(out, it)
		}
	}
	return out
}

// oneSided are the items whose rule decides even when only one side
// reports them: an unlicensed vGPU or a shared GPU is material whatever
// the other side says.
var oneSided = map[string]bool{"gpu.license": true, "gpu.processes": true}

// fairRule decides whether two differing values are a material difference,
// and says why or qualifies them.
type fairRule func(base, cand string, x *fairCtx) (material bool, note string)

type fairCtx struct {
	perGPU     bool
	base, cand *sideFacts
}

type fairSpec struct {
	key, label string
	rule       fairRule
}

// fairCatalog lists the items both formats map onto, in the order a reader
// wants them: what the GPU is, how it is attached and configured, the
// host, the software.
var fairCatalog = []fairSpec{
	{"platform", "Platform", nil},
	{"gpu.model", "GPU model", ruleGPUModel},
	{"gpu.count", "GPU count", ruleGPUCount},
	{"gpu.memory", "GPU memory", ruleGPUMemory},
	{"gpu.attachment", "GPU attachment (vGPU profile)", nil},
	{"gpu.license", "vGPU license", ruleLicense},
	{"vgpu.scheduler", "vGPU scheduler (seen by the hypervisor's agent)", nil},
	{"vgpu.host_driver", "vGPU host driver (the hypervisor's vGPU manager)", ruleDriver},
	{"gpu.serial", "GPU serial", nil},
	{"driver.version", "NVIDIA driver (guest driver in a VM)", ruleDriver},
	{"driver.cuda", "CUDA (driver API)", nil},
	{"gpu.power_limit", "Power limit", rulePowerLimit},
	{"gpu.ecc", "ECC", ruleDiffers("ECC costs memory bandwidth and capacity")},
	{"gpu.mig", "MIG", ruleDiffers("a MIG instance is a slice of the GPU")},
	{"gpu.clocks", "Clocks (application / locked)", ruleDiffers("pinned clocks set the GPU's speed")},
	{"gpu.max_clocks", "Max clocks", nil},
	{"gpu.persistence", "Persistence mode", nil},
	{"gpu.processes", "Other processes on the GPU", ruleProcesses},
	{"gpu.pcie", "PCIe link (max)", nil},
	{"gpu.interconnect", "Accelerator interconnect", nil},
	{"numa", "NUMA locality", nil},
	{"cpu.model", "CPU model", nil},
	{"cpu.count", "CPUs", nil},
	{"cpu.governor", "CPU governor", nil},
	{"host.memory", "Host memory", nil},
	{"os", "Operating system", nil},
	{"mlperf.framework", "Framework", ruleFramework},
	{"mlperf.software", "Software stack", nil},
	{"mlperf.division", "Division", ruleDiffers("open-division results may change the model")},
	{"mlperf.system_type", "System type", nil},
	{"mlperf.notes", "Submitter's notes", nil},
	{"gpuperf.version", "gpuperf version", nil},
	{"backend", "Backend", ruleDiffers("another backend is another system under test")},
	{"backend.batch", "Batch size", ruleDiffers("batching changes throughput and latency")},
	{"generator.spin", "Load generator --spin policy (Server)", ruleSpin},
}

// sideFacts are one side's printed values by item key.
type sideFacts struct {
	vals map[string]string
	// extra lists keys outside fairCatalog, with their labels and rules.
	extra  []string
	labels map[string]string
	rules  map[string]fairRule
	// serials are every GPU's serial ("" where unknown); hasGPUs says the
	// side lists its GPUs at all (MLPerf sides do not).
	serials []string
	hasGPUs bool
	// vgpuGuest: the side runs in a vGPU guest.
	vgpuGuest bool
	// settings are the requested LoadGen settings by "benchmark Scenario".
	settings map[string]*scenSettings
	// effectiveOpts: the backend options are what the backend ran with,
	// defaults included, not only those the configuration set.
	effectiveOpts bool
}

func newSideFacts() *sideFacts {
	return &sideFacts{vals: map[string]string{}, labels: map[string]string{}, rules: map[string]fairRule{}, settings: map[string]*scenSettings{}}
}

func (s *sideFacts) set(key, v string) {
	if v = strings.TrimSpace(v); v != "" {
		s.vals[key] = v
	}
}

func (s *sideFacts) setExtra(key, label, v string, rule fairRule) {
	if !slices.Contains(s.extra, key) {
		s.extra = append(s.extra, key)
	}
	s.labels[key], s.rules[key] = label, rule
	s.set(key, v)
}

func collectFacts(cache runCache, side Side, scenarios []ScenarioComparison, role string) *sideFacts {
	fs := newSideFacts()
	switch side.Format {
	case FormatMLPerf:
		for _, h := range side.Hosts {
			mlperfFacts(fs, h)
		}
	default:
		var per []*sideFacts
		for _, h := range side.Hosts {
			hf := newSideFacts()
			if fp, ok := hostFingerprint(h); ok {
				fingerprintFacts(hf, fp)
			}
			if fp, ok := hypervisorFingerprint(h); ok {
				// The vGPU manager's branch must match the guest
				// driver's, and it sets the scheduler's behaviour.
				hf.set("vgpu.host_driver", fp.NVML.DriverVersion)
			}
			per = append(per, hf)
		}
		mergeHosts(fs, per)
		runs := loadRuns(cache, side, scenarios, role)
		runFacts(fs, runs)
		fs.set("vgpu.scheduler", vgpuSchedulers(runs))
	}
	return fs
}

// mergeHosts joins the hosts' values: one value when they agree, else each
// host's, separated by " | ". GPU counts add up.
func mergeHosts(fs *sideFacts, per []*sideFacts) {
	if len(per) == 1 {
		*fs = *per[0]
		return
	}
	keys := map[string]bool{}
	for _, h := range per {
		for k := range h.vals {
			keys[k] = true
		}
		fs.serials = append(fs.serials, h.serials...)
		fs.hasGPUs = fs.hasGPUs || h.hasGPUs
		fs.vgpuGuest = fs.vgpuGuest || h.vgpuGuest
		for _, k := range h.extra {
			if !slices.Contains(fs.extra, k) {
				fs.extra = append(fs.extra, k)
			}
			fs.labels[k], fs.rules[k] = h.labels[k], h.rules[k]
		}
	}
	for k := range keys {
		var vs []string
		total, allNum := 0, true
		for _, h := range per {
			v := h.vals[k]
			vs = append(vs, cmpOr(v, "?"))
			n, err := strconv.Atoi(v)
			allNum = allNum && err == nil
			total += n
		}
		if k == "gpu.count" && allNum {
			fs.vals[k] = strconv.Itoa(total)
			continue
		}
		fs.vals[k] = joinDistinct(vs, " | ")
	}
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// joinDistinct joins the distinct values in first-seen order.
func joinDistinct(vs []string, sep string) string {
	var out []string
	for _, v := range vs {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return strings.Join(out, sep)
}

// fingerprintFacts maps a gpuperf host fingerprint onto the items.
func fingerprintFacts(fs *sideFacts, fp gpu.Fingerprint) {
	v := fp.Virtualization.Verdict
	fs.set("platform", v.Summary)
	fs.vgpuGuest = v.Platform == host.VGPUVM
	fs.hasGPUs = len(fp.GPUs) > 0
	if !fp.NVML.Available {
		fs.set("gpu.count", "0 (NVML unavailable: "+cmpOr(fp.NVML.Unavailable, "no reason given")+")")
	} else {
		fs.set("gpu.count", strconv.Itoa(len(fp.GPUs)))
	}
	fs.set("driver.version", fp.NVML.DriverVersion)
	fs.set("driver.cuda", fp.NVML.CUDADriverVersion)
	var names, mem, attach, lic, power, ecc, mig, clocks, pcie, numa []string
	for _, d := range fp.GPUs {
		fs.serials = append(fs.serials, d.Serial)
		names = append(names, d.Name)
		if d.MemoryMiB > 0 {
			mem = append(mem, formatMiB(d.MemoryMiB))
		}
		switch d.Virtualization {
		case "vgpu":
			attach = append(attach, "vGPU "+d.Name)
		case "":
		default:
			attach = append(attach, d.Virtualization)
		}
		switch l := d.VGPULicense; {
		case l != nil && l.Supported && l.Licensed:
			lic = append(lic, strings.TrimSpace("licensed "+l.Product))
		case l != nil && l.Supported:
			lic = append(lic, "unlicensed ("+cmpOr(l.State, "state unknown")+")")
		case d.Virtualization != "vgpu":
			lic = append(lic, "n/a (not a vGPU guest)")
		}
		if d.PowerLimitW > 0 {
			power = append(power, fmt.Sprintf("%g W", d.PowerLimitW))
		}
		if d.ECCMode != "" {
			ecc = append(ecc, d.ECCMode)
		}
		if d.MIGMode != "" {
			mig = append(mig, d.MIGMode)
		}
		if d.MaxSMClockMHz > 0 {
			clocks = append(clocks, fmt.Sprintf("SM %d / memory %d MHz", d.MaxSMClockMHz, d.MaxMemClockMHz))
		}
		if d.PCIeMaxGen > 0 {
			p := fmt.Sprintf("Gen%d x%d", d.PCIeMaxGen, d.PCIeMaxWidth)
			if d.PCIeSystemGen > 0 && d.PCIeSystemGen < d.PCIeMaxGen {
				p += fmt.Sprintf(" (system max Gen%d)", d.PCIeSystemGen)
			}
			pcie = append(pcie, p)
		}
		numa = append(numa, numaLocality(fp.Host, d))
	}
	fs.set("gpu.model", joinDistinct(names, ", "))
	fs.set("gpu.memory", joinDistinct(mem, ", "))
	fs.set("gpu.attachment", joinDistinct(attach, ", "))
	fs.set("gpu.license", joinDistinct(lic, ", "))
	fs.set("gpu.power_limit", joinDistinct(power, ", "))
	fs.set("gpu.ecc", joinDistinct(ecc, ", "))
	fs.set("gpu.mig", joinDistinct(mig, ", "))
	fs.set("gpu.max_clocks", joinDistinct(clocks, ", "))
	fs.set("gpu.pcie", joinDistinct(pcie, ", "))
	fs.set("numa", joinDistinct(numa, ", "))
	if slices.ContainsFunc(fs.serials, func(s string) bool { return s != "" }) {
		fs.set("gpu.serial", strings.Join(fs.serials, ", "))
	}
	h := fp.Host
	fs.set("cpu.model", h.CPUModel)
	switch {
	case h.CPUsAllowedCount > 0 && h.CPUsAllowedCount != h.CPUsOnline:
		fs.set("cpu.count", fmt.Sprintf("%d usable of %d online", h.CPUsAllowedCount, h.CPUsOnline))
	case h.CPUsOnline > 0:
		fs.set("cpu.count", strconv.Itoa(h.CPUsOnline))
	}
	switch {
	case h.Governor != "":
		fs.set("cpu.governor", h.Governor)
	case h.Unavailable["cpu_governor"] != "":
		fs.set("cpu.governor", "none: "+h.Unavailable["cpu_governor"])
	}
	if h.MemoryMiB > 0 {
		fs.set("host.memory", formatMiB(h.MemoryMiB))
	}
	os := h.Distro
	if k := cmpOr(h.Kernel, fp.Kernel); k != "" {
		os = strings.TrimSpace(os + ", kernel " + k)
		os = strings.TrimPrefix(os, ", ")
	}
	fs.set("os", os)
	fs.set("gpuperf.version", fp.Version)
	for _, name := range slices.Sorted(maps.Keys(fp.Serving)) {
		facts := fp.Serving[name]
		for _, k := range slices.Sorted(maps.Keys(facts)) {
			if k == "error" {
				continue
			}
			var rule fairRule
			switch {
			case strings.HasPrefix(k, "config_") && k != "config_error":
				// Triton's model configuration (see the kserve backend).
				rule = ruleDiffers("the server runs the model another way (instances, batching, backend or cache), which sets its throughput and latency")
			case strings.Contains(k, "model"):
				rule = ruleDiffers("the serving stack holds another model")
			}
			fs.setExtra("serving."+name+"."+k, "Serving "+name+": "+strings.ReplaceAll(k, "_", " "), facts[k], rule)
		}
	}
}

// numaLocality says whether the CPUs this agent may use are the GPU's
// local ones.
func numaLocality(h host.Info, d gpu.DeviceInfo) string {
	switch {
	case h.NUMANodes == 1:
		return "one NUMA node"
	case d.NUMANode == nil || *d.NUMANode < 0:
		return ""
	}
	node := *d.NUMANode
	aff, allowed := cpuSet(d.CPUAffinity), cpuSet(h.CPUsAllowed)
	switch {
	case len(aff) == 0 || len(allowed) == 0:
		return fmt.Sprintf("GPU on node %d", node)
	case allowed.subsetOf(aff):
		return fmt.Sprintf("local (agent pinned to the GPU's node %d)", node)
	case !allowed.intersects(aff):
		return fmt.Sprintf("remote (agent on CPUs %s; GPU on node %d, local CPUs %s)", h.CPUsAllowed, node, d.CPUAffinity)
	}
	return fmt.Sprintf("unpinned (agent may run on CPUs %s; GPU on node %d, local CPUs %s)", h.CPUsAllowed, node, d.CPUAffinity)
}

type cpus map[int]bool

func (c cpus) intersects(o cpus) bool {
	for k := range c {
		if o[k] {
			return true
		}
	}
	return false
}

func (c cpus) subsetOf(o cpus) bool {
	for k := range c {
		if !o[k] {
			return false
		}
	}
	return true
}

// cpuSet parses a kernel CPU list ("0-3,8").
func cpuSet(s string) cpus {
	out := cpus{}
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				continue
			}
		}
		for i := a; i <= b; i++ {
			out[i] = true
		}
	}
	return out
}

func formatMiB(mib uint64) string {
	g := float64(mib) / 1024
	if g >= 10 {
		return fmt.Sprintf("%.0f GiB", g)
	}
	return fmt.Sprintf("%.1f GiB", g)
}

// runFacts adds what the runs recorded: backend, its options, the load
// generator's settings and seeds per scenario, and the GPU state before
// each run.
func runFacts(fs *sideFacts, runs []runFile) {
	if len(runs) == 0 {
		return
	}
	var backends, versions, persist, clocks, procs, spins []string
	opts := map[string][]string{}
	var optKeys []string
	for _, r := range runs {
		res := r.Res
		backends = append(backends, res.Backend)
		versions = append(versions, res.Version)
		// The options the backend ran with, defaults included, when it
		// says them; else those the agent's configuration set.
		ran := res.BackendEffective
		if len(ran) > 0 {
			fs.effectiveOpts = true
		} else {
			ran = res.BackendOpts
		}
		for _, k := range slices.Sorted(maps.Keys(ran)) {
			if !slices.Contains(optKeys, k) {
				optKeys = append(optKeys, k)
			}
			opts[k] = append(opts[k], ran[k])
		}
		for k := range opts {
			if _, ok := ran[k]; !ok {
				opts[k] = append(opts[k], "")
			}
		}
		s := fs.settings[r.Scenario]
		if s == nil {
			s = &scenSettings{}
			fs.settings[r.Scenario] = s
		}
		s.add(string(res.Profile), r.Rep.Repetition, *res.Requested, *res.Effective, res.SeedSet)
		if res.Effective.Scenario == inference.Server {
			spins = append(spins, spinPolicy(res))
		}
		if r.State != nil {
			for _, d := range r.State.Devices {
				if d.PersistenceMode != nil {
					persist = append(persist, onOff(*d.PersistenceMode))
				}
				if d.ClocksPinned != nil {
					c := "default"
					if *d.ClocksPinned {
						c = "pinned"
						if d.AppSMClockMHz != nil {
							c += fmt.Sprintf(" (application SM clock %d MHz)", *d.AppSMClockMHz)
						}
					}
					clocks = append(clocks, c)
				}
				if d.Processes == nil {
					if _, missing := d.Unavailable[gpu.CapProcesses]; !missing {
						procs = append(procs, "none")
					}
				}
				for _, p := range d.Processes {
					procs = append(procs, fmt.Sprintf("%s (%d MiB)", cmpOr(p.Name, fmt.Sprintf("pid %d", p.PID)), p.UsedMiB))
				}
			}
		}
	}
	fs.set("backend", joinDistinct(backends, ", "))
	if v := joinDistinct(versions, ", "); v != "" && fs.vals["gpuperf.version"] != v {
		fs.set("gpuperf.version", strings.Trim(joinDistinct([]string{fs.vals["gpuperf.version"], v}, ", "), ", "))
	}
	fs.set("gpu.persistence", joinDistinct(persist, ", "))
	fs.set("gpu.clocks", joinDistinct(clocks, ", "))
	if len(procs) > 1 {
		procs = slices.DeleteFunc(procs, func(p string) bool { return p == "none" })
	}
	fs.set("gpu.processes", joinDistinct(procs, ", "))
	batch := "backend default"
	if b, ok := opts["batch"]; ok {
		batch = joinDistinct(mapEmpty(b, "backend default"), ", ")
	}
	fs.set("backend.batch", batch)
	fs.set("generator.spin", joinDistinct(spins, ", "))
	for _, k := range optKeys {
		if k == "batch" {
			continue
		}
		rule := ruleDiffers("the backend is configured differently")
		if addressOptions[k] {
			rule = nil
		}
		fs.setExtra("backend.option."+k, "Backend option "+k, joinDistinct(mapEmpty(opts[k], "(unset)"), ", "), rule)
	}
}

// addressOptions say where a backend's server is and how to reach it,
// which differs between hosts without changing what is measured.
var addressOptions = map[string]bool{
	"endpoint": true, "url": true, "tls": true, "ca": true, "cert": true, "key": true, "server_name": true,
	"ca_file": true, "api_key_env": true, "timeout": true, "request_timeout": true, "stall_timeout": true, "connect_timeout": true,
}

func mapEmpty(vs []string, def string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = cmpOr(v, def)
	}
	return out
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// mlperfFacts maps an MLPerf systems/<system>.json onto the items.
func mlperfFacts(fs *sideFacts, h HostInfo) {
	var d map[string]any
	if len(h.Fingerprint) == 0 || json.Unmarshal(h.Fingerprint, &d) != nil {
		return
	}
	str := func(k string) string {
		switch v := d[k].(type) {
		case string:
			return strings.TrimSpace(v)
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
		return ""
	}
	model := str("accelerator_model_name")
	fs.set("gpu.model", model)
	if h.GPUs > 0 && !strings.Contains(h.GPUsFrom, "assumed") {
		fs.set("gpu.count", strconv.Itoa(h.GPUs))
	}
	fs.set("gpu.memory", str("accelerator_memory_capacity"))
	osName := str("operating_system")
	fs.set("os", osName)
	profile := vgpuProfile(model)
	if profile == "" {
		if m := folderProfileRE.FindStringSubmatch(h.Name); m != nil {
			profile = m[1]
		}
	}
	hyp := hypervisorIn(osName)
	virtual := profile != "" || hyp != "" || strings.Contains(strings.ToLower(model), "virtualized")
	switch {
	case virtual && hyp != "":
		fs.set("platform", "virtualized ("+hyp+")")
	case virtual:
		fs.set("platform", "virtualized")
	default:
		fs.set("platform", "bare metal (no hypervisor named)")
	}
	switch {
	case profile != "":
		fs.set("gpu.attachment", "vGPU profile "+profile)
	case virtual:
		fs.set("gpu.attachment", "virtualized (profile not stated)")
	default:
		fs.set("gpu.attachment", "none stated")
	}
	stack := str("other_software_stack")
	fw := str("framework")
	if m := driverRE.FindStringSubmatch(stack); m != nil {
		fs.set("driver.version", m[1])
	}
	if m := cudaRE.FindStringSubmatch(fw + ", " + stack); m != nil {
		fs.set("driver.cuda", m[1])
	}
	fs.set("mlperf.framework", fw)
	fs.set("mlperf.software", stack)
	cpu := str("host_processor_model_name")
	fs.set("cpu.model", cpu)
	// host_processor_core_count is per processor for some submitters and
	// per node for others; it is printed as written.
	var cpuCount []string
	if n := str("host_processors_per_node"); n != "" {
		cpuCount = append(cpuCount, n+" sockets")
	}
	if n := str("host_processor_core_count"); n != "" {
		cpuCount = append(cpuCount, n+" cores")
	}
	fs.set("cpu.count", strings.Join(cpuCount, ", "))
	fs.set("host.memory", str("host_memory_capacity"))
	fs.set("gpu.interconnect", str("accelerator_host_interconnect"))
	fs.set("mlperf.division", str("division"))
	fs.set("mlperf.system_type", str("system_type"))
	fs.set("mlperf.notes", str("sw_notes"))
}

var (
	driverRE = regexp.MustCompile(`(?i)\bdriver\s*:?\s*(\d+\.\d+(?:\.\d+)*)`)
	cudaRE   = regexp.MustCompile(`(?i)\bCUDA\s*:?\s*(\d+\.\d+(?:\.\d+)?)`)
	// A vGPU profile ends a model name: "A100-SXM-80C", "H100-80C",
	// "L40S-48Q" (series A, B, C, Q).
	profileRE       = regexp.MustCompile(`(?i)[-_ ](\d+[ABCQ])$`)
	folderProfileRE = regexp.MustCompile(`_(\d+[ABCQ])x\d+`)
)

func vgpuProfile(model string) string {
	if m := profileRE.FindStringSubmatch(strings.TrimSpace(model)); m != nil {
		return strings.ToUpper(m[1])
	}
	return ""
}

// hypervisorIn finds a hypervisor named in an operating-system string.
func hypervisorIn(s string) string {
	for _, re := range hypervisorREs {
		if m := re.FindString(s); m != "" {
			return m
		}
	}
	return ""
}

var hypervisorREs = []*regexp.Regexp{
	regexp.MustCompile(`(?i)VMware (?:ESXi|vSphere)[ ,]*[\d.]*(?: \d+)?`),
	regexp.MustCompile(`(?i)\b(?:KVM|Hyper-V|Xen|Proxmox|Nutanix AHV|OpenStack)\b[ \d.]*`),
}

// samePhysicalGPU compares the GPU serials: the same set on both sides is
// the same physical GPU(s).
func samePhysicalGPU(b, c *sideFacts) string {
	if !b.hasGPUs || !c.hasGPUs || slices.Contains(b.serials, "") || slices.Contains(c.serials, "") {
		return SameGPUUnknown
	}
	bs, cs := slices.Sorted(slices.Values(b.serials)), slices.Sorted(slices.Values(c.serials))
	if slices.Equal(bs, cs) {
		return SameGPUYes
	}
	return SameGPUNo
}

// spinPolicy is how a Server run's generator waited; a run recorded before
// --spin existed spun for the last 2 ms before every arrival, as always
// does now.
func spinPolicy(res *runResult) string {
	switch {
	case res.Health.Wait != nil:
		return string(res.Health.Wait.Spin)
	case res.Requested.GeneratorSpin != "":
		return string(res.Requested.GeneratorSpin)
	}
	return string(inference.SpinAlways) + " (recorded before --spin)"
}

// ruleSpin: another wait policy is another load generator: spinning
// changes the issue delay and takes a core from the system under test.
func ruleSpin(b, c string, _ *fairCtx) (bool, string) {
	first := func(v string) string { f, _, _ := strings.Cut(v, " "); return f }
	if first(b) == first(c) {
		return false, "the same policy"
	}
	return true, "the generator waits another way: spinning lowers its issue delay and takes up to a core from the system under test (gpuperf bench --spin)"
}

// Rules.

func ruleDiffers(why string) fairRule {
	return func(_, _ string, _ *fairCtx) (bool, string) { return true, why }
}

// ruleGPUModel: another GPU is material; the same GPU under a vGPU
// profile's name (A100-SXM-80GB and A100-SXM-80C, L40S and "Virtualized
// NVIDIA L40S") is not.
func ruleGPUModel(b, c string, x *fairCtx) (bool, string) {
	bt, bp := gpuTokens(b)
	ct, cp := gpuTokens(c)
	if !(isPrefix(bt, ct) || isPrefix(ct, bt)) {
		return true, "different GPUs"
	}
	var parts []string
	for _, p := range []struct{ role, profile string }{{RoleBaseline, bp}, {RoleCandidate, cp}} {
		if p.profile != "" {
			parts = append(parts, "the "+p.role+" is vGPU profile "+p.profile)
		}
	}
	note := "same GPU (" + strings.ToUpper(strings.Join(shorter(bt, ct), " ")) + "), named differently"
	if len(parts) > 0 {
		note = "same GPU (" + strings.ToUpper(strings.Join(shorter(bt, ct), " ")) + "); " + strings.Join(parts, ", ")
	}
	return false, note
}

func shorter(a, b []string) []string {
	if len(a) <= len(b) {
		return a
	}
	return b
}

func isPrefix(short, long []string) bool {
	return len(short) > 0 && len(short) <= len(long) && slices.Equal(short, long[:len(short)])
}

// gpuTokens normalises a GPU name to its product tokens and vGPU profile:
// vendor words, memory sizes and packaging marks (CTS) go; SXM4/SXM5 are
// SXM.
func gpuTokens(name string) (tokens []string, profile string) {
	if m := profileRE.FindStringSubmatchIndex(strings.TrimSpace(name)); m != nil {
		n := strings.TrimSpace(name)
		profile = strings.ToUpper(n[m[2]:m[3]])
		name = n[:m[0]]
	}
	for _, t := range strings.FieldsFunc(strings.ToLower(name), func(r rune) bool { return r == '-' || r == '_' || r == ' ' || r == ',' }) {
		switch {
		case t == "nvidia" || t == "virtualized" || t == "grid" || t == "tesla" || t == "cts":
			continue
		case memTokenRE.MatchString(t):
			continue
		case strings.HasPrefix(t, "sxm"):
			t = "sxm"
		}
		tokens = append(tokens, t)
	}
	return tokens, profile
}

var memTokenRE = regexp.MustCompile(`^\d+(gb|g|gib)$`)

func ruleGPUCount(_, _ string, x *fairCtx) (bool, string) {
	if x.perGPU {
		return false, "normalised by --per-gpu"
	}
	return true, "throughputs are per system; compare per GPU with --per-gpu"
}

// ruleGPUMemory: more than 10% apart is material (a fractional vGPU
// profile, or another memory variant).
func ruleGPUMemory(b, c string, _ *fairCtx) (bool, string) {
	bg, ok1 := parseGB(b)
	cg, ok2 := parseGB(c)
	if !ok1 || !ok2 {
		return false, ""
	}
	if math.Abs(bg-cg) > 0.1*math.Max(bg, cg) {
		return true, fmt.Sprintf("%.0f%% of the baseline's memory", 100*cg/bg)
	}
	return false, "within 10%"
}

var sizeRE = regexp.MustCompile(`(?i)([\d.]+)\s*(TiB|TB|GiB|GB|MiB|MB)`)

func parseGB(s string) (float64, bool) {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	switch strings.ToUpper(m[2]) {
	case "TIB", "TB":
		v *= 1024
	case "MIB", "MB":
		v /= 1024
	}
	return v, true
}

// ruleDriver: another driver branch (major version) is material.
func ruleDriver(b, c string, _ *fairCtx) (bool, string) {
	bm, _, _ := strings.Cut(b, ".")
	cm, _, _ := strings.Cut(c, ".")
	if bm != cm {
		return true, fmt.Sprintf("driver branch %s vs %s", bm, cm)
	}
	return false, "same driver branch " + bm
}

func ruleLicense(b, c string, _ *fairCtx) (bool, string) {
	for _, p := range []struct{ role, v string }{{RoleBaseline, b}, {RoleCandidate, c}} {
		if strings.Contains(p.v, "unlicensed") {
			return true, "the " + p.role + "'s vGPU is unlicensed, and the driver throttles an unlicensed vGPU"
		}
	}
	return false, ""
}

// rulePowerLimit: limits more than 1% apart are material.
func rulePowerLimit(b, c string, _ *fairCtx) (bool, string) {
	bw, ok1 := firstNumber(b)
	cw, ok2 := firstNumber(c)
	if ok1 && ok2 && math.Abs(bw-cw) > 0.01*math.Max(bw, cw) {
		return true, fmt.Sprintf("the candidate may draw %.0f%% of the baseline's power", 100*cw/bw)
	}
	return false, "within 1%"
}

var numberRE = regexp.MustCompile(`[\d.]+`)

func firstNumber(s string) (float64, bool) {
	v, err := strconv.ParseFloat(numberRE.FindString(s), 64)
	return v, err == nil
}

func ruleProcesses(b, c string, _ *fairCtx) (bool, string) {
	for _, p := range []struct{ role, v string }{{RoleBaseline, b}, {RoleCandidate, c}} {
		if p.v != "none" && p.v != "" {
			return true, "the " + p.role + "'s GPU was shared with other processes"
		}
	}
	return false, ""
}

// ruleFramework: another framework is material; another version of the
// same one is not, but is noted.
func ruleFramework(b, c string, _ *fairCtx) (bool, string) {
	bn, cn := firstWord(b), firstWord(c)
	if !strings.EqualFold(bn, cn) {
		return true, "different frameworks"
	}
	return false, "same framework, different versions"
}

func firstWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
