package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gpuperf/gpuperf/gpu"
	"github.com/gpuperf/gpuperf/gpu/exporter"
	"github.com/gpuperf/gpuperf/gpu/host"
	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend/builtin"
)

// GPUConfig is agent.yaml's gpu section.
type GPUConfig struct {
	// AllowUnlicensedVGPU runs even on an unlicensed vGPU, which the
	// driver throttles; without it such a run is refused.
	AllowUnlicensedVGPU bool `mapstructure:"allow_unlicensed_vgpu"`
	// TelemetryInterval is the sampler's tick, e.g. "100ms" (the default);
	// "off" samples nothing.
	TelemetryInterval string `mapstructure:"telemetry_interval"`
	// NVMLLibrary is libnvidia-ml's path; empty lets the loader find it.
	NVMLLibrary string `mapstructure:"nvml_library"`
}

// minInterval bounds the tick: NVML's own sample period is about 1/6 s.
const minInterval = 10 * time.Millisecond

// interval parses TelemetryInterval: 0 means off.
func (g GPUConfig) interval() (time.Duration, error) {
	switch g.TelemetryInterval {
	case "":
		return gpu.DefaultInterval, nil
	case "off":
		return 0, nil
	}
	d, err := time.ParseDuration(g.TelemetryInterval)
	if err != nil || d < minInterval {
		return 0, fmt.Errorf("gpu.telemetry_interval: %q is not a duration of at least %s (or off)", g.TelemetryInterval, minInterval)
	}
	return d, nil
}

// Option configures a Server.
type Option func(*Server)

// WithNVML makes the server use n instead of opening NVML itself (tests
// hand it go-nvml's mock through gpu.OpenLibrary). The caller closes n.
func WithNVML(n *gpu.NVML) Option { return func(s *Server) { s.gpu, s.ownGPU = n, false } }

// WithHostRoot reads the host fingerprint below root instead of "/".
func WithHostRoot(o host.Options) Option { return func(s *Server) { s.hostOpts = o } }

// setupGPU opens NVML (unless an option gave one) and records the host's
// fingerprint.
func (s *Server) setupGPU() {
	if s.gpu == nil {
		s.gpu, s.ownGPU = gpu.Open(gpu.Options{LibraryPath: s.cfg.GPU.NVMLLibrary, Logger: s.log}), true
	}
	if !s.gpu.Available() {
		s.log.Info("GPU telemetry unavailable", "reason", s.gpu.Unavailable())
	}
	s.fp = gpu.Collect(s.gpu, s.hostOpts, s.version)
	s.runState = exporter.NewRunState()
}

// Close releases NVML.
func (s *Server) Close() error {
	if s.ownGPU && s.gpu != nil {
		return s.gpu.Close()
	}
	return nil
}

// describeTimeout bounds each backend's Describe.
const describeTimeout = 5 * time.Second

// fingerprintJSON is the fingerprint with what each backend in front of a
// serving stack says about it.
func (s *Server) fingerprintJSON(ctx context.Context) ([]byte, error) {
	fp := s.fp
	for _, b := range s.cfg.Backends {
		be, err := builtin.New(b.Kind, b.Options)
		if err != nil {
			continue
		}
		d, ok := be.(inference.Describer)
		if !ok {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, describeTimeout)
		facts, err := d.Describe(dctx)
		cancel()
		if err != nil {
			facts = map[string]string{"error": err.Error()}
		}
		if fp.Serving == nil {
			fp.Serving = map[string]map[string]string{}
		}
		fp.Serving[b.Name] = facts
	}
	return json.Marshal(fp)
}

// telemetry is one run's GPU side: the preflight and the sampler.
type telemetry struct {
	pre     gpu.Preflight
	sampler *gpu.Sampler // nil when telemetry is off
}

// preflight records the GPU state before the warm-up and refuses an
// unlicensed vGPU unless the config allows it.
func (s *Server) preflight(log *slog.Logger) (*telemetry, error) {
	t := &telemetry{pre: s.gpu.Preflight()}
	for _, w := range t.pre.Warnings {
		log.Warn("preflight: " + w)
	}
	if err := t.pre.Check(s.cfg.GPU.AllowUnlicensedVGPU); err != nil {
		return nil, err
	}
	iv, _ := s.cfg.GPU.interval() // validated with the config
	if iv > 0 {
		t.sampler = s.gpu.NewSampler(gpu.SamplerConfig{Interval: iv, Clock: inference.Now, Logger: log})
	}
	return t, nil
}

// attach fills the result's telemetry and GPU state and returns
// telemetry.csv.
func (t *telemetry) attach(res *inference.Result) ([]byte, error) {
	var errs []error
	var err error
	if res.GPUState, err = json.Marshal(t.pre); err != nil {
		errs = append(errs, fmt.Errorf("gpu state: %w", err))
	}
	if t.sampler == nil {
		return nil, errors.Join(errs...)
	}
	t.sampler.Close()
	var csv bytes.Buffer
	if sum := t.sampler.Summary(); sum != nil {
		sum.PerSample(res.SamplesComplete)
		if res.Telemetry, err = json.Marshal(sum); err != nil {
			errs = append(errs, fmt.Errorf("telemetry: %w", err))
		}
		if err := t.sampler.WriteCSV(&csv); err != nil {
			errs = append(errs, err)
		}
	}
	return csv.Bytes(), errors.Join(errs...)
}

// serveMetrics serves Prometheus metrics on addr until ctx is done; the
// returned function waits for the server to stop.
func (s *Server) serveMetrics(ctx context.Context, addr string, ready func(net.Addr)) (func(), error) {
	var src exporter.Source
	if s.gpu.Available() {
		src = s.gpu.NewSnapshot()
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(exporter.New(src, s.gpu.Unavailable(), s.runState)); err != nil {
		return nil, fmt.Errorf("--metrics-listen: %w", err)
	}
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if ready != nil {
		ready(lis.Addr())
	}
	s.log.Info("metrics listening", "addr", lis.Addr().String())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics server", "err", err)
		}
	}()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		<-done
	}()
	return func() { <-stopped }, nil
}

// runOutcome names how a run ended, for gpuperf_runs_total.
func runOutcome(res *inference.Result, err error, cancelled bool) string {
	switch {
	case cancelled:
		return "cancelled"
	case err != nil || res == nil:
		return "failed"
	case res.Validity.Valid:
		return "valid"
	}
	return "invalid"
}
