package gpu

import (
	"log/slog"
	"sync"
	"time"
)

// Options says how to load NVML.
type Options struct {
	// LibraryPath is libnvidia-ml's file; "" lets the dynamic loader find
	// libnvidia-ml.so.1.
	LibraryPath string
	Logger      *slog.Logger
	// CallBudget caps the CPU each metric's NVML call may take, as a share
	// of one core: a call the probe finds dearer is read less often than
	// every tick (and always at a window's edges). 0 is DefaultCallBudget;
	// negative reads everything every tick.
	CallBudget float64
}

// DefaultCallBudget keeps each metric under 0.02% of a core, so the dozen
// of them stay well under 0.5% together. On an H200 some calls cost
// milliseconds of CPU (GetTotalEnergyConsumption about 4 ms, GetSamples
// about 3 ms): read at 10 Hz they alone would take 11% of a core.
const DefaultCallBudget = 0.0002

// NVML is an initialised NVML with its probed devices, or the reason there
// is none. Its methods are safe for concurrent use.
type NVML struct {
	info NVMLInfo
	devs []device
	// xid delivers XID events; nil without an event set.
	xid      xidSource
	shutdown func() error
	log      *slog.Logger
	once     sync.Once
}

// device is one probed GPU, as the sampler and the preflight use it.
type device interface {
	info() DeviceInfo
	// newReader returns a reader with its own sample cursors, so two
	// consumers (a run's sampler, a Prometheus scrape) never share them.
	newReader() deviceReader
	// ecc returns the volatile corrected and uncorrected ECC totals.
	ecc() (corrected, uncorrected uint64, ok bool)
	state(selfPID int) DeviceState
}

// deviceReader reads one device per tick.
type deviceReader interface {
	// prime skips what NVML's sample buffers already hold, so a window
	// counts only its own samples.
	prime()
	// read fills r at instant at (ns, any origin); calls dearer than the
	// budget are made only when due, or when final is set. raw, if not nil,
	// receives every utilization sample NVML buffered since the last read.
	read(at int64, final bool, r *Reading, raw *utilSamples)
	// end closes the window that began with the first read after prime
	// and ended with the final read: it returns the metrics computed from
	// counters sampled at both edges (GPM), and frees what the window held.
	end() edgeValues
}

// edgeValues are a window's values computed from counters sampled at its
// start and its end.
type edgeValues struct {
	Reading
	// why says why a metric the probe found supported has no value.
	why map[Metric]string
}

// utilSamples are NVML's buffered utilization samples, kept for the
// summary (they are finer than the ticks).
type utilSamples struct{ gpu, mem []float64 }

// xidSource drains XID events: fn is called with the device index and the
// XID for each event waiting.
type xidSource interface {
	drain(fn func(dev int, xid uint64))
}

// unavailable returns an NVML that says why there is none.
func unavailable(reason string, log *slog.Logger) *NVML {
	return &NVML{info: NVMLInfo{Unavailable: reason}, log: log}
}

// Info is what NVML said about itself.
func (n *NVML) Info() NVMLInfo { return n.info }

// Available reports whether NVML was initialised.
func (n *NVML) Available() bool { return n.info.Available }

// Unavailable is why there is no NVML data, or "".
func (n *NVML) Unavailable() string { return n.info.Unavailable }

// Devices returns the fingerprint of each GPU, in NVML index order.
func (n *NVML) Devices() []DeviceInfo {
	out := make([]DeviceInfo, len(n.devs))
	for i, d := range n.devs {
		out[i] = d.info()
	}
	return out
}

// Close shuts NVML down; calling it again does nothing.
func (n *NVML) Close() error {
	var err error
	n.once.Do(func() {
		if n.shutdown != nil {
			err = n.shutdown()
		}
	})
	return err
}

// Snapshot reads every device once, for live views and Prometheus. It uses
// its own reader, so it can run beside a window's sampler.
type Snapshot struct {
	n       *NVML
	readers []deviceReader
	origin  time.Time
	mu      sync.Mutex // protects readers' cursors
}

// NewSnapshot returns a reader of the current values.
func (n *NVML) NewSnapshot() *Snapshot {
	s := &Snapshot{n: n, origin: time.Now()}
	for _, d := range n.devs {
		r := d.newReader()
		r.prime()
		s.readers = append(s.readers, r)
	}
	return s
}

// Devices returns the fingerprint of each device, in the order of Read.
func (s *Snapshot) Devices() []DeviceInfo { return s.n.Devices() }

// Driver is the NVIDIA driver's version, or "".
func (s *Snapshot) Driver() string { return s.n.info.DriverVersion }

// Read returns one reading per device.
func (s *Snapshot) Read() []Reading {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Reading, len(s.readers))
	at := int64(time.Since(s.origin))
	for i, r := range s.readers {
		r.read(at, false, &out[i], nil)
	}
	return out
}
