package cpu

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"

	"github.com/gpuperf/gpuperf/inference/backend"
)

// Option names, as given to New.
const (
	OptLayers  = "layers"
	OptWidth   = "width"
	OptInput   = "input"
	OptBatch   = "batch"
	OptWorkers = "workers"
	OptSeed    = "seed"
)

// maxParams bounds the model's size (float32 weights), so a typo cannot ask
// for more memory than a host has.
const maxParams = 1 << 28

// Config describes the model and how it is served.
type Config struct {
	Layers  int    // dense layers, the last one followed by softmax
	Width   int    // outputs of every layer, and so the number of classes
	Input   int    // input features per sample
	Batch   int    // most samples per Infer call
	Workers int    // goroutines calling Infer
	Seed    uint64 // seeds the weights and the inputs
}

// DefaultConfig returns the defaults: 3 layers of width 256 on 256 inputs,
// batches of up to 8, one worker per processor, seed 1.
func DefaultConfig() Config {
	return Config{Layers: 3, Width: 256, Input: 256, Batch: 8, Workers: runtime.GOMAXPROCS(0), Seed: 1}
}

// ParseConfig reads a Config from options, starting from DefaultConfig, and
// validates it.
func ParseConfig(opts map[string]string) (Config, error) {
	if err := backend.CheckKnown(opts, OptLayers, OptWidth, OptInput, OptBatch, OptWorkers, OptSeed); err != nil {
		return Config{}, fmt.Errorf("cpu: %w", err)
	}
	c := DefaultConfig()
	r := backend.NewReader(opts)
	r.Int(OptLayers, &c.Layers)
	r.Int(OptWidth, &c.Width)
	r.Int(OptInput, &c.Input)
	r.Int(OptBatch, &c.Batch)
	r.Int(OptWorkers, &c.Workers)
	r.Seed(OptSeed, &c.Seed)
	if err := r.Err(); err != nil {
		return Config{}, fmt.Errorf("cpu: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Options returns c as the options New takes, every one stated: what the
// model runs with, defaults included.
func (c Config) Options() map[string]string {
	return map[string]string{
		OptLayers: strconv.Itoa(c.Layers), OptWidth: strconv.Itoa(c.Width), OptInput: strconv.Itoa(c.Input),
		OptBatch: strconv.Itoa(c.Batch), OptWorkers: strconv.Itoa(c.Workers), OptSeed: strconv.FormatUint(c.Seed, 10),
	}
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		key string
		v   int
	}{
		{OptLayers, c.Layers}, {OptWidth, c.Width}, {OptInput, c.Input},
		{OptBatch, c.Batch}, {OptWorkers, c.Workers},
	} {
		if f.v < 1 {
			errs = append(errs, fmt.Errorf("%s=%d: want at least 1", f.key, f.v))
		}
	}
	if len(errs) == 0 && c.params() > maxParams {
		errs = append(errs, fmt.Errorf("%s=%d %s=%d %s=%d: %d weights; want at most %d",
			OptLayers, c.Layers, OptWidth, c.Width, OptInput, c.Input, c.params(), maxParams))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cpu: %w", err)
	}
	return nil
}

// params returns the number of weights, biases included.
func (c Config) params() int {
	return c.Input*c.Width + (c.Layers-1)*c.Width*c.Width + c.Layers*c.Width
}

// FLOPs returns the floating-point operations of one sample's forward
// pass, counting a multiply-add as two.
func (c Config) FLOPs() int {
	return 2 * (c.Input*c.Width + (c.Layers-1)*c.Width*c.Width)
}
