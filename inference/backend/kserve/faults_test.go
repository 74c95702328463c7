package kserve

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference/backend/backendtest"
	"github.com/gpuperf/gpuperf/inference/backend/kserve/kservetest"
)

// startErr starts b and returns its error, failing the test if Start
// takes longer than limit (a hang).
func startErr(t *testing.T, b *Backend, limit time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- b.StartWith(context.Background(), &backendtest.Fake{}) }()
	select {
	case err := <-done:
		if err == nil {
			b.Stop()
		}
		return err
	case <-time.After(limit):
		t.Fatalf("Start still waiting after %v", limit)
		return nil
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestServerDownAtStart(t *testing.T) {
	addr := freeAddr(t)
	b, err := New(map[string]string{OptEndpoint: addr, OptModel: "simple", OptTimeout: "20s"})
	if err != nil {
		t.Fatal(err)
	}
	// Connection refused fails at once, long before the timeout.
	err = startErr(t, b, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "server "+addr) || !strings.Contains(err.Error(), "not reachable") {
		t.Fatalf("Start() = %v; want the server not reachable", err)
	}
}

// TestSilentServerAtStart: a peer that accepts connections but never
// answers is bounded by the timeout.
func TestSilentServerAtStart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	b, err := New(map[string]string{OptEndpoint: l.Addr().String(), OptModel: "simple", OptTimeout: "300ms"})
	if err != nil {
		t.Fatal(err)
	}
	err = startErr(t, b, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "no answer within 300ms (option timeout)") {
		t.Fatalf("Start() = %v; want no answer within the timeout", err)
	}
}

func TestNotReadyAtStart(t *testing.T) {
	for _, tc := range []struct {
		b    kservetest.Behavior
		want string
	}{
		{kservetest.Behavior{NotLive: true}, "not live"},
		{kservetest.Behavior{NotReady: true}, "not ready (ServerReady says false)"},
	} {
		srv := kservetest.New(t, kservetest.Options{Behavior: tc.b})
		err := startErr(t, newBackend(t, srv), 10*time.Second)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Start() against %+v = %v; want %q", tc.b, err, tc.want)
		}
	}
}

func TestWrongModel(t *testing.T) {
	srv := kservetest.New(t, kservetest.Options{Name: "triton", Version: "2.50.0"})
	for _, tc := range []struct {
		kv   []string
		want string
	}{
		{[]string{"model=resnet51"}, `model "resnet51" is not ready on server ` + srv.Addr() + ` (triton 2.50.0) (ModelReady says false`},
		{[]string{"model_version=7"}, `model "simple" version "7" is not ready`},
	} {
		err := startErr(t, newBackend(t, srv, tc.kv...), 10*time.Second)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Start(%v) = %v; want %q", tc.kv, err, tc.want)
		}
	}
}

// TestShapeMismatch covers every way the request's shape can disagree
// with the model: each is a clear error at Start, before any sample.
func TestShapeMismatch(t *testing.T) {
	lying := kservetest.Simple()
	lying.Name = "lying"
	lying.Advertised = []kservetest.Tensor{{Name: "INPUT0", Datatype: "FP32", Shape: []int64{-1, 8}}}
	variable := kservetest.Model{Name: "var", Version: "1",
		Inputs:  []kservetest.Tensor{{Name: "x", Datatype: "INT64", Shape: []int64{-1, -1}}},
		Outputs: []kservetest.Tensor{{Name: "y", Datatype: "FP32", Shape: []int64{-1, 2}}}}
	fixed := kservetest.Model{Name: "fixed", Version: "1",
		Inputs:  []kservetest.Tensor{{Name: "x", Datatype: "FP32", Shape: []int64{1, 16}}},
		Outputs: []kservetest.Tensor{{Name: "y", Datatype: "FP32", Shape: []int64{1, 4}}}}
	capped := kservetest.Simple()
	capped.Name, capped.MaxBatch = "capped", 4
	srv := kservetest.New(t, kservetest.Options{Models: []kservetest.Model{kservetest.Simple(), lying, variable, fixed, capped}})
	for _, tc := range []struct {
		name string
		kv   []string
		want string
	}{
		{"metadata the server does not enforce", []string{"model=lying"},
			`model "lying": a test request of 1 samples (INPUT0 FP32[-1,8] as [1,8]) failed: rpc error: code = InvalidArgument desc = unexpected shape for input 'INPUT0'`},
		{"shape option against the metadata", []string{"shape=8"},
			`input "INPUT0": option shape gives shape [8], but the model's shape is [-1,16] (one sample's shape leaves out the batch dimension)`},
		{"shape option of the wrong rank", []string{"shape=4x4"}, "option shape gives shape [4,4]"},
		{"variable dimensions without a shape", []string{"model=var"},
			`input "x": shape [-1,-1] has variable dimensions; give them with shape=8`},
		{"shape for an input the model lacks", []string{"shape=y:3"}, `option shape: the model has no input "y" (inputs: INPUT0)`},
		{"batch on a model without a batch dimension", []string{"model=fixed", "batch=2"},
			`model "fixed" has no batch dimension (inputs x FP32[1,16]): batch=2 needs a first dimension of -1`},
		{"batch past the server's maximum", []string{"model=capped", "batch=8"}, "batch-size must be <= 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := startErr(t, newBackend(t, srv, tc.kv...), 10*time.Second)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start() = %v;\nwant %q", err, tc.want)
			}
		})
	}
	// The same models work when the request is right.
	for _, kv := range [][]string{{"model=var", "shape=32", "batch=3"}, {"model=fixed"}, {"model=capped", "batch=4"}} {
		if err := startErr(t, newBackend(t, srv, kv...), 10*time.Second); err != nil {
			t.Errorf("Start(%v) = %v", kv, err)
		}
	}
}

// TestMalformedResponses: a malformed response at Start is a clear error;
// during a run it completes its samples with an error wrapping
// ErrMalformed.
func TestMalformedResponses(t *testing.T) {
	for _, tc := range []struct {
		fault kservetest.Fault
		want  string
	}{
		{kservetest.FaultNoOutputs, "no outputs"},
		{kservetest.FaultShortRaw, `output "OUTPUT0": shape [2,4] has 8 elements, the response carries 7`},
		{kservetest.FaultWrongDatatype, `output "OUTPUT0" is INT8; the model's metadata says FP32`},
		{kservetest.FaultWrongBatch, `output "OUTPUT0": shape [3,4] for a request of 2 samples`},
		{kservetest.FaultRawCount, "2 raw_output_contents for 1 outputs"},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			srv := kservetest.New(t, kservetest.Options{Behavior: kservetest.Behavior{Fault: tc.fault}})
			err := startErr(t, newBackend(t, srv, "batch=2"), 10*time.Second)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start() = %v; want ErrMalformed: %s", err, tc.want)
			}
			srv.SetBehavior(kservetest.Behavior{})
			b := newBackend(t, srv, "batch=2")
			f := backendtest.Start(t, b)
			srv.SetBehavior(kservetest.Behavior{Fault: tc.fault})
			issue(b, 0, 20, 2)
			if err := f.Wait(20, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			ok, failed, err := outcome(t, f, 20)
			if ok != 0 || failed != 20 || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%d ok, %d failed, first error %v; want every sample failed with %q", ok, failed, err, tc.want)
			}
		})
	}
	t.Run("stream-id", func(t *testing.T) {
		srv := kservetest.New(t, kservetest.Options{})
		b := newBackend(t, srv, "stream=true", "max_inflight=4")
		f := backendtest.Start(t, b)
		srv.SetBehavior(kservetest.Behavior{Fault: kservetest.FaultStreamID})
		issue(b, 0, 20, 1)
		if err := f.Wait(20, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		ok, failed, err := outcome(t, f, 20)
		if ok != 0 || failed != 20 || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "matches no request in flight") {
			t.Fatalf("%d ok, %d failed, first error %v; want every sample failed as unmatched", ok, failed, err)
		}
	})
}

// TestStalled: a server that stops answering costs each request the
// timeout, then an error; a stalled stream is replaced by a new one once
// the server answers again.
func TestStalled(t *testing.T) {
	for _, tc := range []struct {
		stream string
		want   string
	}{
		{"false", "no response within 2s (option timeout)"},
		{"true", "stream stalled: context deadline exceeded"},
	} {
		t.Run("stream="+tc.stream, func(t *testing.T) {
			srv := kservetest.New(t, kservetest.Options{})
			// 2 s, not less: the backend's start asks the in-process
			// server whether it is live within the same timeout, and a
			// loaded 2-core host (load average 22) has taken over 300 ms
			// to answer.
			b := newBackend(t, srv, "stream="+tc.stream, "timeout=2s", "max_inflight=4")
			f := backendtest.Start(t, b)
			srv.SetBehavior(kservetest.Behavior{Stall: true})
			issue(b, 0, 8, 1)
			if err := f.Wait(8, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			ok, failed, err := outcome(t, f, 8)
			if ok != 0 || failed != 8 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%d ok, %d failed, first error %v; want all failed with %q", ok, failed, err, tc.want)
			}
			srv.SetBehavior(kservetest.Behavior{})
			issue(b, 8, 8, 1)
			if err := f.Wait(16, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if ok, failed, err := outcome(t, f, 16); ok != 8 || failed != 8 {
				t.Fatalf("after the stall: %d ok, %d failed (%v); want the 8 new samples ok", ok, failed, err)
			}
		})
	}
}

// TestServerKilledMidRun: when the server dies, the samples in flight and
// those issued after fail, every sample completes, and Stop returns.
func TestServerKilledMidRun(t *testing.T) {
	for _, stream := range []string{"false", "true"} {
		t.Run("stream="+stream, func(t *testing.T) {
			srv := kservetest.New(t, kservetest.Options{Behavior: kservetest.Behavior{Latency: 2 * time.Millisecond}})
			b := newBackend(t, srv, "stream="+stream, "max_inflight=8", "connections=2")
			f := backendtest.Start(t, b)
			const n = 400
			issue(b, 0, 200, 1)
			if err := f.Wait(50, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			srv.Close()
			issue(b, 200, 200, 1)
			if err := f.Wait(n, 20*time.Second); err != nil {
				t.Fatal(err)
			}
			ok, failed, err := outcome(t, f, n)
			if ok < 50 || failed < 200 || ok+failed != n {
				t.Fatalf("%d ok, %d failed; want at least the first 50 ok and the last 200 failed", ok, failed)
			}
			if !strings.Contains(err.Error(), "Unavailable") && !strings.Contains(err.Error(), "Canceled") && !strings.Contains(err.Error(), "ended the stream") {
				t.Errorf("first error %v; want the connection's loss", err)
			}
			done := make(chan error, 1)
			go func() { done <- b.Stop() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Stop hangs after the server died")
			}
		})
	}
}

func TestTLS(t *testing.T) {
	certs, err := kservetest.WriteCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mutual, err := certs.ServerTLS(true)
	if err != nil {
		t.Fatal(err)
	}
	srv := kservetest.New(t, kservetest.Options{TLS: mutual})
	ca, cert, key := "ca="+certs.CA, "cert="+certs.ClientCert, "key="+certs.ClientKey
	for _, tc := range []struct {
		name string
		kv   []string
		want string // empty: works
	}{
		{"mutual TLS", []string{ca, cert, key}, ""},
		{"mutual TLS streamed", []string{ca, cert, key, "stream=true", "server_name=localhost"}, ""},
		{"no client certificate", []string{ca}, "not reachable"},
		{"unknown CA", []string{cert, key, "tls=true"}, "certificate signed by unknown authority"},
		{"plaintext to a TLS server", nil, "does it speak plaintext gRPC?"},
		{"wrong server name", []string{ca, cert, key, "server_name=example.com"}, "valid for localhost, not example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t, srv, tc.kv...)
			if tc.want != "" {
				if err := startErr(t, b, 10*time.Second); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Start() = %v; want %q", err, tc.want)
				}
				return
			}
			f := backendtest.Start(t, b)
			issue(b, 0, 20, 3)
			if err := f.Wait(20, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if ok, _, err := outcome(t, f, 20); ok != 20 {
				t.Fatalf("%d ok (%v); want 20", ok, err)
			}
		})
	}
}
