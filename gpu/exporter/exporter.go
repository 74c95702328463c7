// Package exporter serves GPU telemetry to Prometheus with dcgm-exporter's
// metric names, units and labels where they exist (DCGM_FI_DEV_SM_CLOCK in
// MHz, DCGM_FI_DEV_POWER_USAGE in W, DCGM_FI_PROF_SM_ACTIVE as a ratio and
// DCGM_FI_PROF_PCIE_TX_BYTES in bytes/s from GPM on Hopper and newer, each
// over the span since the previous GPM sample; labels gpu, UUID, pci_bus_id,
// device, modelName, Hostname, DCGM_FI_DRIVER_VERSION), so existing
// dashboards work, plus gpuperf_* metrics: clock-event reasons, the
// capability matrix, and the agent's run state.
package exporter

import (
	"os"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gpuperf/gpuperf/gpu"
)

// Source reads the GPUs: *gpu.Snapshot is one.
type Source interface {
	Devices() []gpu.DeviceInfo
	Driver() string
	Read() []gpu.Reading
}

// dcgmLabels are dcgm-exporter's labels (release 4.x spells Hostname so).
var dcgmLabels = []string{"gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION"}

// Collector is a prometheus.Collector over a Source and the run state.
type Collector struct {
	src      Source
	state    *RunState
	hostname string

	dcgm        map[gpu.Metric]*prometheus.Desc
	license     *prometheus.Desc
	reasons     *prometheus.Desc
	reasonOn    *prometheus.Desc
	linkGen     *prometheus.Desc
	linkWidth   *prometheus.Desc
	supported   *prometheus.Desc
	info        *prometheus.Desc
	nvmlUp      *prometheus.Desc
	runActive   *prometheus.Desc
	runInfo     *prometheus.Desc
	runIssued   *prometheus.Desc
	runDone     *prometheus.Desc
	runElapsed  *prometheus.Desc
	runsTotal   *prometheus.Desc
	lastValid   *prometheus.Desc
	lastMetric  *prometheus.Desc
	unavailable string
}

// New returns a collector over src (nil when NVML is unavailable, with
// the reason) and state (nil for no run-state metrics).
func New(src Source, unavailable string, state *RunState) *Collector {
	host, _ := os.Hostname()
	c := &Collector{src: src, state: state, hostname: host, unavailable: unavailable, dcgm: map[gpu.Metric]*prometheus.Desc{}}
	for m := gpu.Metric(0); m < gpu.NumMetrics; m++ {
		if name := m.DCGM(); name != "" {
			c.dcgm[m] = prometheus.NewDesc(name, m.Help(), dcgmLabels, nil)
		}
	}
	gl := func(extra ...string) []string {
		return append([]string{"gpu", "UUID", "modelName", "Hostname"}, extra...)
	}
	c.license = prometheus.NewDesc("DCGM_FI_DEV_VGPU_LICENSE_STATUS", "vGPU license status (1 licensed).", dcgmLabels, nil)
	c.reasons = prometheus.NewDesc("gpuperf_gpu_clock_event_reasons", "Clock event (throttle) reasons, NVML bitmask.", gl(), nil)
	c.reasonOn = prometheus.NewDesc("gpuperf_gpu_clock_event_reason_active", "1 while the clock event reason is active.", gl("reason"), nil)
	c.linkGen = prometheus.NewDesc("gpuperf_gpu_pcie_link_gen", "Current PCIe link generation.", gl(), nil)
	c.linkWidth = prometheus.NewDesc("gpuperf_gpu_pcie_link_width", "Current PCIe link width (lanes).", gl(), nil)
	c.supported = prometheus.NewDesc("gpuperf_gpu_metric_supported", "1 when the device reports the metric (capability probe), else 0.", gl("metric", "status"), nil)
	c.info = prometheus.NewDesc("gpuperf_gpu_info", "GPU identity and virtualization mode.", gl("pci_bus_id", "virtualization_mode", "mig_mode", "driver_version"), nil)
	c.nvmlUp = prometheus.NewDesc("gpuperf_nvml_available", "1 when NVML is loaded, else 0 (reason in the label).", []string{"reason", "Hostname"}, nil)
	c.runActive = prometheus.NewDesc("gpuperf_run_active", "1 while a run is in progress.", nil, nil)
	c.runInfo = prometheus.NewDesc("gpuperf_run_info", "The run in progress or the last one.", []string{"run_id", "backend", "model", "scenario", "phase"}, nil)
	c.runIssued = prometheus.NewDesc("gpuperf_run_queries_issued", "Queries issued by the run in progress.", nil, nil)
	c.runDone = prometheus.NewDesc("gpuperf_run_samples_completed", "Samples completed by the run in progress.", nil, nil)
	c.runElapsed = prometheus.NewDesc("gpuperf_run_elapsed_seconds", "Time since the run's current phase started.", nil, nil)
	c.runsTotal = prometheus.NewDesc("gpuperf_runs_total", "Runs finished, by outcome (valid, invalid, failed, cancelled).", []string{"outcome"}, nil)
	c.lastValid = prometheus.NewDesc("gpuperf_last_run_valid", "1 when the last run was VALID.", nil, nil)
	c.lastMetric = prometheus.NewDesc("gpuperf_last_run_metric", "The last run's official metric.", []string{"metric", "unit"}, nil)
	return c
}

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.dcgm {
		ch <- d
	}
	for _, d := range []*prometheus.Desc{c.license, c.reasons, c.reasonOn, c.linkGen, c.linkWidth, c.supported, c.info, c.nvmlUp,
		c.runActive, c.runInfo, c.runIssued, c.runDone, c.runElapsed, c.runsTotal, c.lastValid, c.lastMetric} {
		ch <- d
	}
}

// Collect reads every device once and the run state.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	up := 0.0
	if c.src != nil {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(c.nvmlUp, prometheus.GaugeValue, up, c.unavailable, c.hostname)
	if c.src != nil {
		c.collectGPUs(ch)
	}
	if c.state != nil {
		c.state.collect(c, ch)
	}
}

func (c *Collector) collectGPUs(ch chan<- prometheus.Metric) {
	infos := c.src.Devices()
	readings := c.src.Read()
	driver := c.src.Driver()
	for i, in := range infos {
		if i >= len(readings) {
			break
		}
		r := &readings[i]
		device := "nvidia" + strconv.Itoa(in.Index)
		if in.Minor >= 0 {
			device = "nvidia" + strconv.Itoa(in.Minor)
		}
		dl := []string{strconv.Itoa(in.Index), in.UUID, in.PCIBusID, device, in.Name, c.hostname, driver}
		gl := dl[:0:0]
		gl = append(gl, strconv.Itoa(in.Index), in.UUID, in.Name, c.hostname)
		for m, d := range c.dcgm {
			v, ok := r.Get(m)
			if !ok {
				continue // unavailable: no series, never 0
			}
			typ := prometheus.GaugeValue
			if m == gpu.Energy {
				typ, v = prometheus.CounterValue, float64(r.EnergyMJ)
			}
			// The profiling metrics in dcgm-exporter's units: ratios, bytes/s.
			v = m.ToDCGM(v)
			ch <- prometheus.MustNewConstMetric(d, typ, v, dl...)
		}
		if l := in.VGPULicense; l != nil && l.Supported {
			ch <- prometheus.MustNewConstMetric(c.license, prometheus.GaugeValue, b2f(l.Licensed), dl...)
		}
		if r.Has(gpu.ClockEvents) {
			ch <- prometheus.MustNewConstMetric(c.reasons, prometheus.GaugeValue, float64(r.Reasons), gl...)
			for _, cr := range gpu.ClockEventReasons {
				ch <- prometheus.MustNewConstMetric(c.reasonOn, prometheus.GaugeValue, b2f(r.Reasons&cr.Bit != 0), append(gl, cr.Name)...)
			}
		}
		if v, ok := r.Get(gpu.PCIeLinkGen); ok {
			ch <- prometheus.MustNewConstMetric(c.linkGen, prometheus.GaugeValue, v, gl...)
		}
		if v, ok := r.Get(gpu.PCIeLinkWidth); ok {
			ch <- prometheus.MustNewConstMetric(c.linkWidth, prometheus.GaugeValue, v, gl...)
		}
		for m := gpu.Metric(0); m < gpu.NumMetrics; m++ {
			cp := in.Capabilities.Of(m)
			ch <- prometheus.MustNewConstMetric(c.supported, prometheus.GaugeValue, b2f(cp.OK()), append(gl, m.Name(), string(cp.Status))...)
		}
		ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, append(gl, in.PCIBusID, in.Virtualization, in.MIGMode, driver)...)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// RunState is the agent's run state for the gpuperf_run_* metrics. Its
// methods are safe for concurrent use.
type RunState struct {
	mu                               sync.Mutex // protects everything below
	active                           bool
	id, backend, model, scenario, ph string
	issued, completed                uint64
	elapsed                          float64
	outcomes                         map[string]float64
	lastValid                        *bool
	lastName, lastUnit               string
	lastValue                        float64
}

// NewRunState returns an idle run state.
func NewRunState() *RunState {
	return &RunState{outcomes: map[string]float64{"valid": 0, "invalid": 0, "failed": 0, "cancelled": 0}}
}

// Start marks a run in progress.
func (s *RunState) Start(id, backend, model, scenario string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active, s.id, s.backend, s.model, s.scenario, s.ph = true, id, backend, model, scenario, "starting"
	s.issued, s.completed, s.elapsed = 0, 0, 0
}

// Progress records the run's progress.
func (s *RunState) Progress(phase string, elapsedSec float64, issued, completed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ph, s.elapsed, s.issued, s.completed = phase, elapsedSec, issued, completed
}

// Finish ends the run with an outcome (valid, invalid, failed, cancelled)
// and, for a run with a result, its official metric.
func (s *RunState) Finish(outcome, metric, unit string, value float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active, s.ph = false, "done"
	s.outcomes[outcome]++
	if outcome == "valid" || outcome == "invalid" {
		v := outcome == "valid"
		s.lastValid, s.lastName, s.lastUnit, s.lastValue = &v, metric, unit, value
	}
}

func (s *RunState) collect(c *Collector, ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.runActive, prometheus.GaugeValue, b2f(s.active))
	if s.id != "" {
		ch <- prometheus.MustNewConstMetric(c.runInfo, prometheus.GaugeValue, 1, s.id, s.backend, s.model, s.scenario, s.ph)
	}
	ch <- prometheus.MustNewConstMetric(c.runIssued, prometheus.GaugeValue, float64(s.issued))
	ch <- prometheus.MustNewConstMetric(c.runDone, prometheus.GaugeValue, float64(s.completed))
	ch <- prometheus.MustNewConstMetric(c.runElapsed, prometheus.GaugeValue, s.elapsed)
	for o, n := range s.outcomes {
		ch <- prometheus.MustNewConstMetric(c.runsTotal, prometheus.CounterValue, n, o)
	}
	if s.lastValid != nil {
		ch <- prometheus.MustNewConstMetric(c.lastValid, prometheus.GaugeValue, b2f(*s.lastValid))
		ch <- prometheus.MustNewConstMetric(c.lastMetric, prometheus.GaugeValue, s.lastValue, s.lastName, s.lastUnit)
	}
}
