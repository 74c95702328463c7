package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/gpuperf/gpuperf/gpu"
	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/internal/atomicfile"
	"github.com/gpuperf/gpuperf/internal/procstat"
)

func newTelemetryCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "telemetry",
		Short: "Print live GPU telemetry, like nvidia-smi dmon",
		Long: `telemetry samples every GPU through NVML and prints one line per GPU per
interval: utilization, clocks, power, temperature, memory, PCIe throughput and
link, and the active clock-event (throttle) reasons. A value the GPU cannot
report (a vGPU guest has no power or temperature) shows as "-", never 0.
--csv prints telemetry.csv's columns instead, with the host's CPU steal.

Standard output carries only the readings (with --csv, only CSV). On a host
without NVML it says why on standard error and exits 1: no readings were
taken, and a script must not mistake an empty file for telemetry.

Every flag can also be set as GPUPERF_<FLAG> (dashes as underscores).
Exit codes: 0 ok, 1 failure (no NVML, no GPU), 2 bad usage, 130 interrupted.`,
		Example: `  gpuperf telemetry
  gpuperf telemetry --interval 100ms --count 50 --csv > telemetry.csv`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("telemetry takes no arguments, got %q", args)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.String("interval", "1s", "time between samples (at least 10ms)")
	f.Int("count", 0, "samples to take; 0 runs until interrupted")
	f.Bool("csv", false, "print CSV (telemetry.csv's columns) instead of columns")
	f.Int("cost", 0, "time each NVML call the sampler makes this many times and print the cost per call, then exit")
	v := bindViper(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return runTelemetry(cmd, v) }
	return cmd
}

func runTelemetry(cmd *cobra.Command, v *viper.Viper) error {
	iv, err := time.ParseDuration(v.GetString("interval"))
	if err != nil || iv < 10*time.Millisecond {
		return usageErrorf("--interval: %q is not a duration of at least 10ms", v.GetString("interval"))
	}
	count := v.GetInt("count")
	if count < 0 {
		return usageErrorf("--count: must be 0 or more, got %d", count)
	}
	out := cmd.OutOrStdout()
	n := gpu.Open(gpu.Options{Logger: slogDefault()})
	defer n.Close()
	// Standard output carries only readings (with --csv, only CSV): a
	// script that redirects it must not find a message in its data.
	if !n.Available() {
		return fmt.Errorf("telemetry unavailable: %s", n.Unavailable())
	}
	if len(n.Devices()) == 0 {
		return errors.New("telemetry unavailable: NVML sees no GPU")
	}
	if calls := v.GetInt("cost"); calls > 0 {
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "GPU\tCALL\tWALL/CALL\tCPU/CALL\tRETURN")
		for _, c := range n.CallCosts(calls) {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", c.Device, c.Call, c.Wall, c.CPU, c.Return)
		}
		return w.Flush()
	}
	snap := n.NewSnapshot()
	infos := snap.Devices()
	var cw *csv.Writer
	var prev procstat.CPU
	prevOK := false
	if v.GetBool("csv") {
		cw = csv.NewWriter(out)
		if err := cw.Write(gpu.CSVHeader()); err != nil {
			return err
		}
		prev, err = procstat.ReadCPU("/proc/stat")
		prevOK = err == nil
	} else {
		printDmonHeader(out)
	}
	ctx := cmd.Context()
	start := time.Now()
	t := time.NewTicker(iv)
	defer t.Stop()
	row := make([]string, 0, 24)
	for i := 0; count == 0 || i < count; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				if cw != nil {
					cw.Flush()
				}
				return &exitError{code: exitInterrupted, err: fmt.Errorf("interrupted")}
			case <-t.C:
			}
		}
		readings := snap.Read()
		at := int64(time.Since(start))
		if cw == nil {
			if err := printDmonRows(out, infos, readings); err != nil {
				return err
			}
			continue
		}
		host := []string{"", ""}
		if prevOK {
			if c, err := procstat.ReadCPU("/proc/stat"); err == nil {
				st, ok1 := procstat.Share(prev, c, func(c procstat.CPU) uint64 { return c.Steal })
				io, ok2 := procstat.Share(prev, c, func(c procstat.CPU) uint64 { return c.IOWait })
				if ok1 && ok2 {
					host = []string{fmt.Sprint(st), fmt.Sprint(io)}
					prev = c
				}
			}
		}
		for k := range readings {
			row = gpu.AppendCSVRow(row[:0], at, infos[k], &readings[k])
			if err := cw.Write(append(row, host...)); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
	}
	return nil
}

// dmon's layout: two header lines (names, units), right-aligned columns.
var dmonCols = []struct {
	name, unit string
	m          gpu.Metric
	scale      float64
}{
	{"sm", "%", gpu.GPUUtil, 1}, {"mem", "%", gpu.MemUtil, 1},
	{"smclk", "MHz", gpu.SMClock, 1}, {"mclk", "MHz", gpu.MemClock, 1},
	{"pwr", "W", gpu.Power, 1}, {"gtemp", "C", gpu.Temperature, 1}, {"fb", "MiB", gpu.MemUsed, 1},
	{"rxpci", "MB/s", gpu.PCIeRX, 1.0 / 1000}, {"txpci", "MB/s", gpu.PCIeTX, 1.0 / 1000},
}

func printDmonHeader(w io.Writer) {
	var names, units strings.Builder
	fmt.Fprintf(&names, "# %3s", "gpu")
	fmt.Fprintf(&units, "# %3s", "Idx")
	for _, c := range dmonCols {
		fmt.Fprintf(&names, " %6s", c.name)
		fmt.Fprintf(&units, " %6s", c.unit)
	}
	fmt.Fprintf(&names, " %6s  %s", "link", "clock events")
	fmt.Fprintf(&units, " %6s  %s", "genxW", "reasons")
	fmt.Fprintln(w, names.String())
	fmt.Fprintln(w, units.String())
}

func printDmonRows(w io.Writer, infos []gpu.DeviceInfo, readings []gpu.Reading) error {
	var b strings.Builder
	for k := range readings {
		r := &readings[k]
		fmt.Fprintf(&b, "  %3d", infos[k].Index)
		for _, c := range dmonCols {
			if v, ok := r.Get(c.m); ok {
				fmt.Fprintf(&b, " %6.0f", v*c.scale)
			} else {
				fmt.Fprintf(&b, " %6s", "-")
			}
		}
		link := "-"
		if g, ok := r.Get(gpu.PCIeLinkGen); ok {
			if wd, ok := r.Get(gpu.PCIeLinkWidth); ok {
				link = fmt.Sprintf("%.0fx%.0f", g, wd)
			}
		}
		fmt.Fprintf(&b, " %6s  %s\n", link, reasonNames(r))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func reasonNames(r *gpu.Reading) string {
	if !r.Has(gpu.ClockEvents) {
		return "-"
	}
	var names []string
	for _, cr := range gpu.ClockEventReasons {
		if r.Reasons&cr.Bit != 0 {
			names = append(names, cr.Name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// benchTelemetry samples the GPUs and the host inside a bench run's timed
// window, as an agent does.
type benchTelemetry struct {
	n       *gpu.NVML
	sampler *gpu.Sampler
}

// startBenchTelemetry hooks a sampler to cfg's window; nil when off.
func startBenchTelemetry(cfg *inference.Config, on bool, interval time.Duration) *benchTelemetry {
	if !on {
		return nil
	}
	n := gpu.Open(gpu.Options{Logger: slogDefault()})
	bt := &benchTelemetry{n: n, sampler: n.NewSampler(gpu.SamplerConfig{Interval: interval, Clock: inference.Now, Logger: slogDefault()})}
	cfg.Window = bt.sampler.Window
	return bt
}

// finish puts the summary into res and returns telemetry.csv.
func (bt *benchTelemetry) finish(res *inference.Result) []byte {
	if bt == nil {
		return nil
	}
	bt.sampler.Close()
	defer bt.n.Close()
	sum := bt.sampler.Summary()
	if sum == nil || res == nil {
		return nil
	}
	sum.PerSample(res.SamplesComplete)
	if b, err := json.Marshal(sum); err == nil {
		res.Telemetry = b
	}
	var buf bytes.Buffer
	if err := bt.sampler.WriteCSV(&buf); err != nil {
		return nil
	}
	return buf.Bytes()
}

// writeCSV stores telemetry.csv beside the run's other files.
func (bt *benchTelemetry) writeCSV(dir string, b []byte) error {
	if bt == nil || b == nil {
		return nil
	}
	return atomicfile.Write(dir, "telemetry.csv", b)
}

// telemetryLine summarises the run's telemetry in one line for people.
func telemetryLine(res *inference.Result) string {
	if len(res.Telemetry) == 0 {
		return ""
	}
	var s gpu.Summary
	if err := json.Unmarshal(res.Telemetry, &s); err != nil {
		return ""
	}
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 4, 1, ' ', 0)
	fmt.Fprintf(w, "gpuperf: telemetry %d ticks every %s; sampler %.3f%% of a core", s.Ticks, time.Duration(s.IntervalNs), s.Sampler.CorePct)
	if !s.NVML.Available {
		fmt.Fprintf(w, "; GPU unavailable: %s", s.NVML.Unavailable)
	}
	for _, d := range s.Devices {
		fmt.Fprintf(w, "; GPU %d", d.Index)
		for _, m := range []string{"gpu_util_pct", "sm_clock_mhz", "power_w"} {
			if ms := d.Metrics[m]; ms.Stats != nil {
				fmt.Fprintf(w, " %s mean %.0f", m, ms.Stats.Mean)
			}
		}
		for _, m := range []string{"prof_sm_active_pct", "prof_pipe_tensor_active_pct"} {
			if ms := d.Metrics[m]; ms.WindowValue != nil {
				fmt.Fprintf(w, " %s %.0f", m, *ms.WindowValue)
			}
		}
		if d.Energy.Unavailable == "" {
			fmt.Fprintf(w, " energy %.1f J", d.Energy.Joules)
		}
		if d.Throttle.ThrottledPct > 0 {
			fmt.Fprintf(w, " throttled %.1f%%", d.Throttle.ThrottledPct)
		}
	}
	fmt.Fprintf(w, "; host steal %.2f%%\n", s.Host.StealPct)
	w.Flush()
	return b.String()
}

// serverLine is the bench's line on the server's own statistics, or "".
func serverLine(res *inference.Result) string {
	st := res.ServerStats
	switch {
	case st == nil:
		return ""
	case st.Unavailable != "":
		return fmt.Sprintf("gpuperf: server statistics unavailable: %s\n", st.Unavailable)
	}
	ms := func(ns float64) string { return strconv.FormatFloat(ns/1e6, 'f', 3, 64) + " ms" }
	return fmt.Sprintf("gpuperf: server (%s) %d requests, %d executions, %d failed; per request %s on the server: queue %s, input %s, infer %s, output %s\n",
		st.Source, st.Requests, st.Executions, st.Failed, ms(st.RequestNs), ms(st.QueueNs), ms(st.ComputeInputNs), ms(st.ComputeInferNs), ms(st.ComputeOutputNs))
}
