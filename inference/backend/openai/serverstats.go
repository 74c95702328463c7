package openai

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend"
)

// statsSource names the statistics in ServerStats when no scrape found a
// server's histograms to name them by (see dialects).
const statsSource = "server-metrics"

// statsTimeout bounds each scrape: the end's runs on the load generator's
// goroutine, after the timed run.
const statsTimeout = 2 * time.Second

// maxMetricsBytes bounds a scrape's body; vLLM's is tens of kilobytes.
const maxMetricsBytes = 64 << 20

// vLLM's per-request histograms, in seconds, observed when a request
// finishes; each series is labelled with model_name. They are also the
// keys other servers' histograms are read under (see dialects).
const (
	metricE2E     = "vllm:e2e_request_latency_seconds"
	metricQueue   = "vllm:request_queue_time_seconds"
	metricPrefill = "vllm:request_prefill_time_seconds"
	metricDecode  = "vllm:request_decode_time_seconds"
	metricInfer   = "vllm:request_inference_time_seconds"
	labelModel    = "model_name"
)

// dialect is one server's names for the per-request histograms, by the
// vLLM name each stands for; the first dialect whose end-to-end histogram
// a scrape has is the one read.
type dialect struct {
	source string
	names  map[string]string // vLLM name → this server's
}

var dialects = []dialect{
	{"vllm-metrics", map[string]string{
		metricE2E: metricE2E, metricQueue: metricQueue, metricPrefill: metricPrefill, metricDecode: metricDecode, metricInfer: metricInfer,
	}},
	// Hugging Face TGI: one model per server, no prefill and decode split
	// per request.
	{"tgi-metrics", map[string]string{
		metricE2E: "tgi_request_duration", metricQueue: "tgi_request_queue_duration", metricInfer: "tgi_request_inference_duration",
	}},
}

var _ inference.ServerStatsReporter = (*Backend)(nil)

// hist is one histogram's sample count and sum (seconds), summed over
// the series read.
type hist struct {
	count uint64
	sum   float64
}

// metricsRead is one scrape: vLLM's request histograms by name (a name
// the server does not expose is absent), or why there are none.
type metricsRead struct {
	h      map[string]hist
	source string // the dialect read
	err    error
}

// newMetricsClient returns the scrapes' client: the requests' transport
// settings (TLS, no proxy) without their connection bound, which requests
// streaming at the timed run's start may hold entirely.
func newMetricsClient(tr *http.Transport) *http.Client {
	mt := tr.Clone()
	mt.MaxConnsPerHost, mt.MaxIdleConns, mt.MaxIdleConnsPerHost = 0, 2, 2
	// Unlike an event stream, the exposition may come compressed.
	mt.DisableCompression = false
	return &http.Client{Transport: mt}
}

// newStatsWindow returns the window that scrapes the server's metrics at
// the timed runs' edges, or nil when metrics are off.
func (b *Backend) newStatsWindow() *backend.StatsWindow[metricsRead] {
	u := b.cfg.metricsURL()
	if u == "" {
		return nil
	}
	return backend.NewStatsWindow(func(ctx context.Context) metricsRead { return b.scrape(ctx, u) }, delta)
}

// ServerWindow scrapes the server's Prometheus metrics at the timed run's
// edges (vLLM's or TGI's request histograms) and keeps the difference for
// ServerStats. With metrics off it does nothing.
func (b *Backend) ServerWindow(start bool) {
	if b.stats != nil {
		b.stats.Edge(start)
	}
}

// ServerStats returns what the server counted in the last timed run, or
// nil when metrics are off or no run has opened a window since Start.
func (b *Backend) ServerStats() *inference.ServerStats {
	if b.stats == nil {
		return nil
	}
	return b.stats.Stats()
}

// scrape reads vLLM's request histograms at u, within statsTimeout.
func (b *Backend) scrape(ctx context.Context, u string) metricsRead {
	ctx, cancel := context.WithTimeout(ctx, statsTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return metricsRead{err: fmt.Errorf("metrics at %s: %w", u, err)}
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	b.authorize(req)
	resp, err := b.metrics.Do(req)
	if err != nil {
		// The url.Error would name the URL a second time.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return metricsRead{err: fmt.Errorf("metrics at %s are not reachable: %w", u, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return metricsRead{err: fmt.Errorf("metrics at %s: %w", u, statusError(resp))}
	}
	h, source, err := parseMetrics(io.LimitReader(resp.Body, maxMetricsBytes), b.cfg.Model)
	if err != nil {
		return metricsRead{err: fmt.Errorf("parse the metrics at %s: %w", u, err)}
	}
	if _, ok := h[metricE2E]; !ok {
		return metricsRead{err: fmt.Errorf("the server exposes no vLLM or TGI request metrics at %s (no %s or %s histogram)", u, metricE2E, dialects[1].names[metricE2E])}
	}
	return metricsRead{h: h, source: source}
}

// parseMetrics reads the per-request histograms of the first dialect the
// exposition has, under vLLM's names, and names the dialect. It sums the
// series whose model_name is served, or every series when none is: a
// single-model server may label its model with another of its names, or
// not at all.
func parseMetrics(r io.Reader, served string) (map[string]hist, string, error) {
	// vLLM's names hold ':', which only the UTF-8 scheme's parser takes.
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, "", err
	}
	histogram := func(name string) *dto.MetricFamily {
		if f := fams[name]; f != nil && f.GetType() == dto.MetricType_HISTOGRAM {
			return f
		}
		return nil
	}
	for _, d := range dialects {
		e2e := histogram(d.names[metricE2E])
		if e2e == nil {
			continue
		}
		ours := false
		for _, m := range e2e.GetMetric() {
			ours = ours || modelOf(m) == served
		}
		out := make(map[string]hist)
		for key, name := range d.names {
			f := histogram(name)
			if f == nil {
				continue
			}
			var h hist
			for _, m := range f.GetMetric() {
				if ours && modelOf(m) != served {
					continue
				}
				h.count += m.GetHistogram().GetSampleCount()
				h.sum += m.GetHistogram().GetSampleSum()
			}
			out[key] = h
		}
		return out, d.source, nil
	}
	return map[string]hist{}, "", nil
}

// modelOf returns a series' model_name label.
func modelOf(m *dto.Metric) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == labelModel {
			return l.GetValue()
		}
	}
	return ""
}

// delta is what the server counted between two scrapes.
func delta(a, b metricsRead) *inference.ServerStats {
	st := &inference.ServerStats{Source: cmp.Or(b.source, a.source, statsSource)}
	switch {
	case a.err != nil:
		st.Unavailable = "at the timed run's start: " + a.err.Error()
		return st
	case b.err != nil:
		st.Unavailable = "at the timed run's end: " + b.err.Error()
		return st
	}
	if a.source != b.source {
		st.Unavailable = fmt.Sprintf("the server's metrics changed from %s to %s during the run", a.source, b.source)
		return st
	}
	for name, y := range b.h {
		if x, ok := a.h[name]; ok && (y.count < x.count || y.sum < x.sum) {
			st.Unavailable = "the server's counters went back during the run (was it restarted?)"
			return st
		}
	}
	// mean is a histogram's mean per request in the window, in ns; false
	// when one scrape lacks it.
	mean := func(name string) (float64, bool) {
		x, okA := a.h[name]
		y, okB := b.h[name]
		if !okA || !okB {
			return 0, false
		}
		if y.count == x.count {
			return 0, true
		}
		return (y.sum - x.sum) / float64(y.count-x.count) * 1e9, true
	}
	st.Requests = b.h[metricE2E].count - a.h[metricE2E].count
	st.Inferences = st.Requests
	st.RequestNs, _ = mean(metricE2E)
	st.QueueNs, _ = mean(metricQueue)
	st.PrefillNs, _ = mean(metricPrefill)
	st.DecodeNs, _ = mean(metricDecode)
	var ok bool
	if st.ComputeInferNs, ok = mean(metricInfer); !ok {
		// A server without the inference histogram: its parts make it.
		st.ComputeInferNs = st.PrefillNs + st.DecodeNs
	}
	return st
}
