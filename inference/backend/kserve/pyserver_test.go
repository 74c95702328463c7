package kserve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend/backendtest"
	"github.com/gpuperf/gpuperf/internal/testpaths"
	inferencev2 "github.com/gpuperf/gpuperf/proto/inference"
)

// pyServer returns python3 (or $GPUPERF_TEST_PYTHON) and the path of
// scripts/oip_server.py, or skips the test.
func pyServer(t *testing.T) (python, script string) {
	t.Helper()
	dir := testpaths.ModuleRoot(t)
	script = filepath.Join(dir, "scripts", "oip_server.py")
	if _, err := os.Stat(script); err != nil {
		t.Skipf("no %s: %v", script, err)
	}
	python = os.Getenv("GPUPERF_TEST_PYTHON")
	if python == "" {
		var err error
		if python, err = exec.LookPath("python3"); err != nil {
			t.Skip("python3 is not installed")
		}
	}
	return python, script
}

func marshalHex(t *testing.T, m proto.Message) string {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func unmarshalHex(t *testing.T, s string, m proto.Message) {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatalf("Go cannot decode the script's %T: %v", m, err)
	}
}

// TestPythonCodec checks scripts/oip_server.py's hand-written protobuf
// codec against the Go client's generated code, both ways: the script
// decodes requests Go encoded, and Go decodes (and the backend accepts)
// the responses the script encoded. It needs python3 only.
func TestPythonCodec(t *testing.T) {
	python, script := pyServer(t)
	const sample = 3 * 224 * 224 * 4
	raw := make([]byte, 2*sample)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	input := func(dtype string, shape ...int64) []*inferencev2.ModelInferRequest_InferInputTensor {
		return []*inferencev2.ModelInferRequest_InferInputTensor{{Name: "input", Datatype: dtype, Shape: shape}}
	}
	req := &inferencev2.ModelInferRequest{
		ModelName: "resnet50", Id: "42",
		// A parameter map the script must skip.
		Parameters:       map[string]*inferencev2.InferParameter{"priority": {ParameterChoice: &inferencev2.InferParameter_Int64Param{Int64Param: -5}}},
		Inputs:           input("FP32", 2, 3, 224, 224),
		Outputs:          []*inferencev2.ModelInferRequest_InferRequestedOutputTensor{{Name: "output"}},
		RawInputContents: [][]byte{raw},
	}
	bad := func(mod func(r *inferencev2.ModelInferRequest)) string {
		r := proto.Clone(req).(*inferencev2.ModelInferRequest)
		mod(r)
		return marshalHex(t, r)
	}
	msgs := map[string]string{
		"model_infer_request":    marshalHex(t, req),
		"model_ready_request":    marshalHex(t, &inferencev2.ModelReadyRequest{Name: "resnet50"}),
		"model_metadata_request": marshalHex(t, &inferencev2.ModelMetadataRequest{Name: "resnet50", Version: "1"}),
		"bad_shape":              bad(func(r *inferencev2.ModelInferRequest) { r.Inputs = input("FP32", 2, 3, 224, 223) }),
		"bad_model":              bad(func(r *inferencev2.ModelInferRequest) { r.ModelName = "resnet51" }),
		"bad_size":               bad(func(r *inferencev2.ModelInferRequest) { r.RawInputContents[0] = raw[:sample] }),
		"bad_datatype":           bad(func(r *inferencev2.ModelInferRequest) { r.Inputs = input("FP16", 2, 3, 224, 224) }),
		// Answered after the requests above: one success, three failures.
		"model_statistics_request":   marshalHex(t, &inferencev2.ModelStatisticsRequest{Name: "resnet50", Version: "1"}),
		"statistics_all_request":     marshalHex(t, &inferencev2.ModelStatisticsRequest{}),
		"statistics_unknown_request": marshalHex(t, &inferencev2.ModelStatisticsRequest{Name: "resnet51"}),
	}
	path := filepath.Join(t.TempDir(), "msgs.json")
	b, err := json.Marshal(msgs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, script, "--self-test", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s --self-test: %v\n%s", script, err, stderr.String())
	}
	var got struct {
		Decoded struct {
			ModelName    string `json:"model_name"`
			ModelVersion string `json:"model_version"`
			ID           string `json:"id"`
			Inputs       []struct {
				Name     string  `json:"name"`
				Datatype string  `json:"datatype"`
				Shape    []int64 `json:"shape"`
			} `json:"inputs"`
			RawLengths []int `json:"raw_lengths"`
		} `json:"decoded"`
		Runs []struct {
			Bytes int    `json:"bytes"`
			N     int    `json:"n"`
			Head  string `json:"head"`
		} `json:"runs"`
		Errors map[string]string `json:"errors"`
	}
	var hexes map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("script output %q: %v", out, err)
	}
	if err := json.Unmarshal(out, &hexes); err != nil {
		t.Fatal(err)
	}
	d := got.Decoded
	if d.ModelName != "resnet50" || d.ModelVersion != "" || d.ID != "42" || len(d.Inputs) != 1 ||
		d.Inputs[0].Name != "input" || d.Inputs[0].Datatype != "FP32" || fmtShape(d.Inputs[0].Shape) != "[2,3,224,224]" ||
		len(d.RawLengths) != 1 || d.RawLengths[0] != len(raw) {
		t.Errorf("the script decoded %+v", d)
	}
	if len(got.Runs) != 1 || got.Runs[0].Bytes != len(raw) || got.Runs[0].N != 2 || got.Runs[0].Head != hex.EncodeToString(raw[:8]) {
		t.Errorf("the model ran %+v; want once on the 2 samples", got.Runs)
	}

	var md inferencev2.ModelMetadataResponse
	unmarshalHex(t, hexes["model_metadata_response"].(string), &md)
	if md.GetName() != "resnet50" || tensors(md.GetInputs()) != "input FP32[-1,3,224,224]" || tensors(md.GetOutputs()) != "output FP32[-1,1000]" ||
		len(md.GetVersions()) != 1 || md.GetPlatform() != "selftest" {
		t.Errorf("ModelMetadataResponse %v", &md)
	}
	// The client's own checks accept the script's response.
	sp, err := newSpec(&md, Config{Model: "resnet50", Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	var resp inferencev2.ModelInferResponse
	unmarshalHex(t, hexes["model_infer_response"].(string), &resp)
	if err := sp.check(&resp, 2); err != nil {
		t.Errorf("the backend rejects the script's response: %v", err)
	}
	if resp.GetModelName() != "resnet50" || resp.GetModelVersion() != "1" || resp.GetId() != "42" || len(resp.GetRawOutputContents()) != 1 ||
		len(resp.GetRawOutputContents()[0]) != 2*1000*4 {
		t.Errorf("ModelInferResponse %v", resp.String()[:min(200, len(resp.String()))])
	}
	var ready inferencev2.ModelReadyResponse
	unmarshalHex(t, hexes["model_ready_response"].(string), &ready)
	if !ready.GetReady() {
		t.Error("ModelReady(resnet50) = false")
	}
	var sm inferencev2.ServerMetadataResponse
	unmarshalHex(t, hexes["server_metadata_response"].(string), &sm)
	if sm.GetName() != "gpuperf-oip-pytorch" || strings.Join(sm.GetExtensions(), ",") != "a,b" {
		t.Errorf("ServerMetadataResponse %v", &sm)
	}
	var se inferencev2.ModelStreamInferResponse
	unmarshalHex(t, hexes["stream_error_response"].(string), &se)
	if se.GetErrorMessage() != "bad" || se.GetInferResponse().GetId() != "7" {
		t.Errorf("ModelStreamInferResponse %v", &se)
	}
	checkPythonStats(t, hexes)
	for key, want := range map[string]string{
		"bad_shape":                  "INVALID_ARGUMENT: unexpected shape for input 'input' for model 'resnet50'. Expected [-1,3,224,224], got [2, 3, 224, 223]",
		"bad_model":                  "NOT_FOUND: unknown model: 'resnet51'",
		"bad_size":                   fmt.Sprintf("INVALID_ARGUMENT: unexpected total byte size %d for input 'input', expecting %d", sample, 2*sample),
		"bad_datatype":               "INVALID_ARGUMENT: inference input 'input' data-type is 'FP16'",
		"statistics_unknown_request": "NOT_FOUND: unknown model: 'resnet51'",
	} {
		if !strings.HasPrefix(got.Errors[key], want) {
			t.Errorf("%s: the script said %q; want %q", key, got.Errors[key], want)
		}
	}
}

// checkPythonStats decodes the self-test's ModelStatistics answers: the
// self-test's model adds 1000, 2000, 3000 and 4000 ns to a request's
// queue, compute_input, compute_infer and compute_output, and counts one
// execution of 2 samples with 2000, 3000 and 4000 ns; compute_input and
// compute_output also hold the script's decoding and encoding.
func checkPythonStats(t *testing.T, hexes map[string]any) {
	t.Helper()
	for _, key := range []string{"model_statistics_response", "statistics_all_response"} {
		h, ok := hexes[key].(string)
		if !ok {
			t.Errorf("the self-test has no %s", key)
			continue
		}
		var resp inferencev2.ModelStatisticsResponse
		unmarshalHex(t, h, &resp)
		if len(resp.GetModelStats()) != 1 {
			t.Errorf("%s: %d entries; want 1", key, len(resp.GetModelStats()))
			continue
		}
		m := resp.GetModelStats()[0]
		is := m.GetInferenceStats()
		if m.GetName() != "resnet50" || m.GetVersion() != "1" || m.GetInferenceCount() != 2 || m.GetExecutionCount() != 1 || m.GetLastInference() == 0 {
			t.Errorf("%s: %s version %q: %d inferences, %d executions, last %d; want resnet50 1, 2 and 1",
				key, m.GetName(), m.GetVersion(), m.GetInferenceCount(), m.GetExecutionCount(), m.GetLastInference())
		}
		d := func(x *inferencev2.StatisticDuration) string { return fmt.Sprintf("%d/%d", x.GetCount(), x.GetNs()) }
		if is.GetSuccess().GetCount() != 1 || is.GetFail().GetCount() != 3 || d(is.GetQueue()) != "1/1000" || d(is.GetComputeInfer()) != "1/3000" ||
			is.GetComputeInput().GetCount() != 1 || is.GetComputeInput().GetNs() <= 2000 ||
			is.GetComputeOutput().GetCount() != 1 || is.GetComputeOutput().GetNs() <= 4000 ||
			is.GetSuccess().GetNs() < is.GetQueue().GetNs()+is.GetComputeInput().GetNs()+is.GetComputeInfer().GetNs()+is.GetComputeOutput().GetNs() {
			t.Errorf("%s: success %s fail %s queue %s input %s infer %s output %s", key, d(is.GetSuccess()), d(is.GetFail()), d(is.GetQueue()),
				d(is.GetComputeInput()), d(is.GetComputeInfer()), d(is.GetComputeOutput()))
		}
		if bs := m.GetBatchStats(); len(bs) != 1 || bs[0].GetBatchSize() != 2 || d(bs[0].GetComputeInput()) != "1/2000" ||
			d(bs[0].GetComputeInfer()) != "1/3000" || d(bs[0].GetComputeOutput()) != "1/4000" {
			t.Errorf("%s: batch_stats %v", key, bs)
		}
	}
}

// pyTorch returns a python3 with grpcio and PyTorch, or skips the test:
// $GPUPERF_TEST_PYTHON, else python3 on the PATH, else /usr/bin/python3
// (where Debian's python3-torch and python3-grpcio are, which a python3
// earlier on the PATH, e.g. pyenv's, does not see).
func pyTorch(t *testing.T) (python, script string) {
	t.Helper()
	python, script = pyServer(t)
	has := func(py string) bool { return exec.Command(py, "-c", "import grpc, torch").Run() == nil }
	if has(python) {
		return python, script
	}
	if os.Getenv("GPUPERF_TEST_PYTHON") == "" && python != "/usr/bin/python3" && has("/usr/bin/python3") {
		t.Logf("%s lacks grpcio or PyTorch: using /usr/bin/python3", python)
		return "/usr/bin/python3", script
	}
	t.Skipf("%s lacks grpcio or PyTorch", python)
	return "", ""
}

// TestPythonServer runs the backend against scripts/oip_server.py on the
// CPU, and a short timed run that reads the server's statistics. It needs
// python3 with grpcio and PyTorch (Debian: python3-grpcio, python3-torch;
// GPUPERF_TEST_PYTHON picks the interpreter) and skips without them.
func TestPythonServer(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the PyTorch server takes seconds to start")
	}
	python, script := pyTorch(t)
	addr := freeAddr(t)
	_, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(python, script, "--port", port, "--device", "cpu", "--max-batch", "4", "--threads", "8")
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1", "PYTHONUNBUFFERED=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.After(3 * time.Minute)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the server exited before it was ready:\n%s", stderr.String())
			}
			if strings.HasPrefix(l, "ready on") {
				t.Log(l)
				break wait
			}
		case <-deadline:
			t.Fatalf("the server is not ready after 3 minutes:\n%s", stderr.String())
		}
	}
	for _, stream := range []string{"false", "true"} {
		b, err := New(map[string]string{OptEndpoint: addr, OptModel: "resnet50", OptBatch: "2", OptMaxInflight: "3", OptStream: stream, OptTimeout: "60s"})
		if err != nil {
			t.Fatal(err)
		}
		f := backendtest.Start(t, b)
		issue(b, 0, 7, 1)
		if err := f.Wait(7, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		if ok, failed, err := outcome(t, f, 7); ok != 7 {
			t.Fatalf("stream=%s: %d ok, %d failed (%v)", stream, ok, failed, err)
		}
		d, err := b.Describe(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if d["server"] != "gpuperf-oip-pytorch" || !strings.HasPrefix(d["model_platform"], "pytorch_") || d["model_inputs"] != "input FP32[-1,3,224,224]" ||
			d["server_extensions"] != "statistics" {
			t.Errorf("Describe() = %v", d)
		}
		if err := b.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	// A wrong model name is a clear error from the script too.
	b, err := New(map[string]string{OptEndpoint: addr, OptModel: "resnet18"})
	if err != nil {
		t.Fatal(err)
	}
	if err := startErr(t, b, time.Minute); err == nil || !strings.Contains(err.Error(), `model "resnet18" is not ready`) {
		t.Errorf("Start(model=resnet18) = %v", err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := inferencev2.NewGRPCInferenceServiceClient(conn).ModelStatistics(ctx, &inferencev2.ModelStatisticsRequest{Name: "resnet18"}); status.Code(err) != codes.NotFound {
		t.Errorf("ModelStatistics(resnet18) = %v; want NOT_FOUND", err)
	}

	pythonServerStats(t, addr)
}

// pythonServerStats runs a short Offline run against the script's server
// and checks the statistics it read over the timed run.
func pythonServerStats(t *testing.T, addr string) {
	b, err := New(map[string]string{OptEndpoint: addr, OptModel: "resnet50", OptBatch: "2", OptMaxInflight: "4", OptTimeout: "60s"})
	if err != nil {
		t.Fatal(err)
	}
	s, qsl, err := inference.Settings("resnet50", inference.Offline, inference.ProfileQuick)
	if err != nil {
		t.Fatal(err)
	}
	// A few samples: ResNet-50 on one CPU thread takes a while each. No
	// warm-up (Offline's issues chunks of 128 samples); the server warmed
	// up before it said it was ready.
	s.MinDurationMs, s.WarmupMs, s.OfflineExpectedQPS = 500, 0, 16
	res, err := inference.Run(context.Background(), b, inference.Config{Settings: s, QSL: qsl, Model: "resnet50"})
	if err != nil {
		t.Fatal(err)
	}
	st := res.ServerStats
	if st == nil || st.Source != "triton-statistics" || st.Unavailable != "" {
		t.Fatalf("server stats = %+v", st)
	}
	ms := func(ns float64) float64 { return ns / 1e6 }
	t.Logf("timed run: %d samples in %d ms, client latency mean %.1f ms; server: %d requests, %d inferences, %d executions, %d failed; "+
		"per request %.1f ms: queue %.2f, input %.2f, infer %.1f, output %.2f ms",
		res.SamplesIssued, res.DurationNs/1e6, ms(float64(res.Latency.MeanNs)), st.Requests, st.Inferences, st.Executions, st.Failed,
		ms(st.RequestNs), ms(st.QueueNs), ms(st.ComputeInputNs), ms(st.ComputeInferNs), ms(st.ComputeOutputNs))
	requests := (res.SamplesIssued + 1) / 2
	if st.Requests == 0 || st.Requests > requests || st.Inferences > res.SamplesIssued || st.Inferences < st.Requests || st.Failed != 0 {
		t.Errorf("server counted %d requests (%d failed) of %d samples; the timed run sent %d requests of %d samples",
			st.Requests, st.Failed, st.Inferences, requests, res.SamplesIssued)
	}
	if st.Executions == 0 || st.Executions > st.Requests {
		t.Errorf("%d executions for %d requests (the batcher runs one or more requests at once)", st.Executions, st.Requests)
	}
	if st.ComputeInferNs <= 0 || st.ComputeInputNs <= 0 || st.ComputeOutputNs <= 0 || st.QueueNs < 0 {
		t.Errorf("queue %.0f ns, input %.0f, infer %.0f, output %.0f; want compute times above 0", st.QueueNs, st.ComputeInputNs, st.ComputeInferNs, st.ComputeOutputNs)
	}
	// A request's phases are disjoint spans of its time on the server.
	if sum := st.QueueNs + st.ComputeInputNs + st.ComputeInferNs + st.ComputeOutputNs; st.RequestNs < sum {
		t.Errorf("request %.0f ns shorter than its phases %.0f ns", st.RequestNs, sum)
	}
	if lat := float64(res.Latency.MeanNs); st.ComputeInferNs > lat {
		t.Errorf("compute %.0f ns longer than the client's mean latency %.0f ns", st.ComputeInferNs, lat)
	}
}
