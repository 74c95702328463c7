package kserve

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
// connections, max_inflight, stream; and from a server with Triton's model
// configuration, config_backend, config_max_batch_size, config_instances,
// config_dynamic_batching and config_response_cache (or config_error).
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
	cl := inferencev2.NewGRPCInferenceServiceClient(conns[0])
	if s.server, s.model, err = c.ready(ctx, cl); err != nil {
		return nil, fmt.Errorf("kserve: describe: %w", err)
	}
	s.config, s.configErr = c.modelConfig(ctx, cl)
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
	d := map[string]string{
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
	if s.configErr != "" {
		d["config_error"] = s.configErr
	}
	if mc := s.config; mc != nil {
		d["config_backend"] = cmp.Or(mc.GetBackend(), mc.GetPlatform())
		d["config_max_batch_size"] = strconv.Itoa(int(mc.GetMaxBatchSize()))
		d["config_instances"] = instances(mc.GetInstanceGroup())
		d["config_dynamic_batching"] = dynamicBatching(mc.GetDynamicBatching())
		d["config_response_cache"] = strconv.FormatBool(mc.GetResponseCache().GetEnable())
	}
	return d
}

// modelConfig asks for the model's configuration (Triton's extension). A
// server without it gives nil and no reason; another failure gives the
// reason, for the fingerprint: the run does not need the configuration.
func (c *Config) modelConfig(ctx context.Context, cl inferencev2.GRPCInferenceServiceClient) (*inferencev2.ModelConfig, string) {
	resp, err := cl.ModelConfig(ctx, &inferencev2.ModelConfigRequest{Name: c.Model, Version: c.ModelVersion})
	switch {
	case status.Code(err) == codes.Unimplemented:
		return nil, ""
	case err != nil:
		return nil, "ModelConfig: " + status.Convert(err).Message()
	}
	return resp.GetConfig(), ""
}

// instances writes the instance groups, e.g. "2 per GPU on GPUs [0 1];
// 1 on CPU". Triton's defaults: a count of 1, every GPU.
func instances(gs []*inferencev2.ModelInstanceGroup) string {
	if len(gs) == 0 {
		return "server default (1 per GPU)"
	}
	parts := make([]string, len(gs))
	for i, g := range gs {
		n := max(g.GetCount(), 1)
		switch g.GetKind() {
		case inferencev2.ModelInstanceGroup_KIND_CPU:
			parts[i] = fmt.Sprintf("%d on CPU", n)
		case inferencev2.ModelInstanceGroup_KIND_MODEL:
			parts[i] = fmt.Sprintf("%d placed by the model", n)
		default:
			parts[i] = fmt.Sprintf("%d per GPU on every GPU", n)
			if gpus := g.GetGpus(); len(gpus) > 0 {
				parts[i] = fmt.Sprintf("%d per GPU on GPUs %v", n, gpus)
			}
		}
	}
	return strings.Join(parts, "; ")
}

// dynamicBatching writes the dynamic batcher's settings, or "off".
func dynamicBatching(db *inferencev2.ModelDynamicBatching) string {
	if db == nil {
		return "off"
	}
	s := fmt.Sprintf("on, max queue delay %d µs", db.GetMaxQueueDelayMicroseconds())
	if p := db.GetPreferredBatchSize(); len(p) > 0 {
		s += fmt.Sprintf(", preferred batch sizes %v", p)
	}
	return s
}

// tensors writes tensor metadata as "name FP32[-1,3,224,224]; ...".
func tensors(ts []*inferencev2.ModelMetadataResponse_TensorMetadata) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.GetName() + " " + t.GetDatatype() + fmtShape(t.GetShape())
	}
	return strings.Join(parts, "; ")
}
