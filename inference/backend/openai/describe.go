package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Describe names the serving stack for the host fingerprint, within
// connect_timeout: the server's version (vLLM's GET /version, or TGI's GET
// /info) and the model's entry in GET /v1/models (max_model_len, owned_by,
// root and the like), as "server_version" and "model_<field>" keys. A
// server without /version or /v1/models simply has fewer keys; one that
// does not answer, or does not serve the model, is an error.
func (b *Backend) Describe(ctx context.Context) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.ConnectTimeout)
	defer cancel()
	entry, err := b.checkModel(ctx)
	if err != nil {
		return nil, fmt.Errorf("openai: describe: %w", err)
	}
	out := map[string]string{"model": b.cfg.Model}
	for k, v := range entry {
		switch k {
		case "id", "object", "created", "permission":
			// id is the model option; created is the time of the request
			// on vLLM; permission is a list of per-request ids.
			continue
		}
		if s, ok := scalar(v); ok {
			out["model_"+k] = s
		}
	}
	var ver struct {
		Version any `json:"version"`
	}
	if err := b.getJSON(ctx, "/version", &ver); err == nil {
		if s, ok := scalar(ver.Version); ok && s != "" {
			out["server_version"] = s
		}
	} else if ctx.Err() != nil {
		return nil, fmt.Errorf("openai: describe: %w", err)
	}
	if _, ok := out["server_version"]; !ok {
		var info map[string]any
		if err := b.getJSON(ctx, "/info", &info); err == nil {
			for k, v := range info {
				if s, ok := scalar(v); ok {
					out["server_info_"+k] = s
				}
			}
			if s, ok := scalar(info["version"]); ok && s != "" {
				out["server_version"] = s
			}
		}
	}
	return out, nil
}

// scalar renders a JSON string, number or boolean; other values are not
// scalars.
func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// checkModel asks GET /v1/models, within connect_timeout, whether the server
// serves the model, and returns its entry. A server without the endpoint
// (404 or 405) passes with no entry: its requests will tell.
func (b *Backend) checkModel(ctx context.Context) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.ConnectTimeout)
	defer cancel()
	var list struct {
		Data []map[string]any `json:"data"`
	}
	if err := b.getJSON(ctx, "/v1/models", &list); err != nil {
		var se *StatusError
		switch {
		case errors.As(err, &se) && (se.StatusCode == http.StatusNotFound || se.StatusCode == http.StatusMethodNotAllowed):
			return nil, nil
		case errors.As(err, &se) && (se.StatusCode == http.StatusUnauthorized || se.StatusCode == http.StatusForbidden) && b.apiKey == "":
			return nil, fmt.Errorf("%w (the server wants an API key: set option %s)", err, OptAPIKeyEnv)
		case se != nil:
			return nil, err
		case ctx.Err() != nil:
			return nil, fmt.Errorf("server at %s did not answer within %s (%s): %w", b.base, b.cfg.ConnectTimeout, OptConnectTimeout, err)
		}
		return nil, fmt.Errorf("server at %s is not reachable: %w", b.base, err)
	}
	var served []string
	for _, m := range list.Data {
		id, _ := m["id"].(string)
		if id == b.cfg.Model {
			return m, nil
		}
		served = append(served, strconv.Quote(id))
	}
	slices.Sort(served)
	if len(served) == 0 {
		served = []string{"none"}
	}
	return nil, fmt.Errorf("model %q is not served at %s (served: %s)", b.cfg.Model, b.base, strings.Join(served, ", "))
}

// getJSON decodes the JSON body of GET path into v, numbers as
// json.Number. A status other than 200 is a *StatusError.
func (b *Backend) getJSON(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	b.authorize(req)
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusError(resp)
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, 16<<20))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w: %v", path, ErrMalformed, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	return nil
}
