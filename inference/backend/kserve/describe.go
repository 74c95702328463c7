package kserve

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	inferencev2 "github.com/gpuperf/gpuperf/proto/inference"
)

// Describe returns what the fingerprint records about the serving stack:
// the server's name, version and extensions, the model's metadata, and the
// request this backend sends (shapes, batch, input data, connections). A
// started backend answers from what Start learned; otherwise Describe
// connects for the purpose, bounded by the timeout option.
//
// Keys: server, server_version, server_extensions, model, model_version
// (the version asked for, empty for the server's choice), model_versions,
// model_platform, model_inputs, model_outputs, request, batch, inputs,
// connections, max_inflight, stream.
func (b *Backend) Describe(ctx context.Context) (map[string]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.sess; s != nil {
		return s.describe(), nil
	}
	c := &b.cfg
	conns, err := c.dial()
	if err != nil {
		return nil, fmt.Errorf("kserve: describe: %w", err)
	}
	defer func() {
		for _, cc := range conns {
			cc.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	s := &session{cfg: c}
	if s.server, s.model, err = c.ready(ctx, inferencev2.NewGRPCInferenceServiceClient(conns[0])); err != nil {
		return nil, fmt.Errorf("kserve: describe: %w", err)
	}
	if s.spec, _, err = b.prepare(s.model); err != nil {
		return nil, fmt.Errorf("kserve: describe: %w", err)
	}
	return s.describe(), nil
}

func (s *session) describe() map[string]string {
	c := s.cfg
	ext := slices.Clone(s.server.GetExtensions())
	slices.Sort(ext)
	inputs := c.Inputs
	if c.Files == nil && c.Inputs == InputsRandom {
		inputs = fmt.Sprintf("random seed=%d samples=%d", c.Seed, c.Samples)
	}
	return map[string]string{
		"server":            s.server.GetName(),
		"server_version":    s.server.GetVersion(),
		"server_extensions": strings.Join(ext, ","),
		"model":             c.Model,
		"model_version":     c.ModelVersion,
		"model_versions":    strings.Join(s.model.GetVersions(), ","),
		"model_platform":    s.model.GetPlatform(),
		"model_inputs":      tensors(s.model.GetInputs()),
		"model_outputs":     tensors(s.model.GetOutputs()),
		"request":           s.spec.String(),
		"batch":             strconv.Itoa(c.Batch),
		"inputs":            inputs,
		"connections":       strconv.Itoa(c.Connections),
		"max_inflight":      strconv.Itoa(c.MaxInflight),
		"stream":            strconv.FormatBool(c.Stream),
	}
}

// tensors writes tensor metadata as "name FP32[-1,3,224,224]; ...".
func tensors(ts []*inferencev2.ModelMetadataResponse_TensorMetadata) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.GetName() + " " + t.GetDatatype() + fmtShape(t.GetShape())
	}
	return strings.Join(parts, "; ")
}
