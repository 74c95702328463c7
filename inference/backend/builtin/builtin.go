// Package builtin maps the names of gpuperf's built-in backends to their
// constructors: null, sim, cpu, openai, kserve and cuda.
package builtin

import (
	"errors"
	"fmt"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend/cpu"
	"github.com/gpuperf/gpuperf/inference/backend/cuda"
	"github.com/gpuperf/gpuperf/inference/backend/kserve"
	"github.com/gpuperf/gpuperf/inference/backend/null"
	"github.com/gpuperf/gpuperf/inference/backend/openai"
	"github.com/gpuperf/gpuperf/inference/backend/sim"
)

// ErrUnknownBackend is wrapped by New's error for a name it does not know.
var ErrUnknownBackend = errors.New("unknown backend")

// Names returns the built-in backend names, in a stable order.
func Names() []string { return []string{"null", "sim", "cpu", "openai", "kserve", "cuda"} }

// Standalone returns the names of the backends that run with no options and
// nothing outside the process, in a stable order: what an agent offers
// without a configuration. The others front a server and need its address,
// or (cuda) a GPU and its driver.
func Standalone() []string { return []string{"null", "sim", "cpu"} }

// New returns the built-in backend called name, configured by opts (see
// backend.ParseOptions); an option the backend does not know is an error.
func New(name string, opts map[string]string) (inference.Backend, error) {
	switch name {
	case "null":
		return null.New(opts)
	case "sim":
		return sim.New(opts)
	case "cpu":
		return cpu.New(opts)
	case "openai":
		return openai.New(opts)
	case "kserve":
		return kserve.New(opts)
	case "cuda":
		return cuda.New(opts)
	}
	return nil, fmt.Errorf("%w %q (want null, sim, cpu, openai, kserve or cuda)", ErrUnknownBackend, name)
}
