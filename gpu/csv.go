package gpu

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
)

// CSVHeader is telemetry.csv's first line: the time since the window's
// start, the device, every metric, and the host's CPU shares.
func CSVHeader() []string {
	h := []string{"time_ns", "gpu", "uuid"}
	for m := Metric(0); m < NumMetrics; m++ {
		h = append(h, m.Name())
	}
	return append(h, "util_source", "host_steal_pct", "host_iowait_pct")
}

// WriteCSV writes the last window's series: one row per tick and device
// (one row per tick with no device). An unavailable value is an empty
// cell, never 0.
func (s *Sampler) WriteCSV(out io.Writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := csv.NewWriter(out)
	if err := w.Write(CSVHeader()); err != nil {
		return fmt.Errorf("telemetry csv: %w", err)
	}
	if s.w != nil {
		infos := make([]DeviceInfo, len(s.n.devs))
		for i, d := range s.n.devs {
			infos[i] = d.info()
		}
		row := make([]string, 0, len(CSVHeader()))
		for _, t := range s.w.ticks {
			host := []string{"", ""}
			if t.hostOK {
				host = []string{formatFloat(t.steal), formatFloat(t.iowait)}
			}
			if len(t.devs) == 0 {
				row = append(row[:0], strconv.FormatInt(t.at, 10), "", "")
				for range NumMetrics {
					row = append(row, "")
				}
				if err := w.Write(append(append(row, ""), host...)); err != nil {
					return fmt.Errorf("telemetry csv: %w", err)
				}
				continue
			}
			for i := range t.devs {
				row = AppendCSVRow(row[:0], t.at, infos[i], &t.devs[i])
				if err := w.Write(append(row, host...)); err != nil {
					return fmt.Errorf("telemetry csv: %w", err)
				}
			}
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("telemetry csv: %w", err)
	}
	return nil
}

// AppendCSVRow appends one device's cells (time, device, metrics,
// utilization source) to row.
func AppendCSVRow(row []string, at int64, info DeviceInfo, r *Reading) []string {
	row = append(row, strconv.FormatInt(at, 10), strconv.Itoa(info.Index), info.UUID)
	for m := Metric(0); m < NumMetrics; m++ {
		switch {
		case !r.Has(m):
			row = append(row, "")
		case m == Energy:
			row = append(row, strconv.FormatUint(r.EnergyMJ, 10))
		case m == ClockEvents:
			row = append(row, fmt.Sprintf("0x%x", r.Reasons))
		default:
			row = append(row, formatFloat(r.Value[m]))
		}
	}
	src := ""
	if r.Has(GPUUtil) || r.Has(MemUtil) {
		src = "poll"
		if r.UtilFromSamples {
			src = "nvml_samples"
		}
	}
	return append(row, src)
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
