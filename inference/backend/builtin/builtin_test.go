package builtin

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend"
	"github.com/gpuperf/gpuperf/inference/backend/backendtest"
	"github.com/gpuperf/gpuperf/inference/backend/kserve/kservetest"
	"github.com/gpuperf/gpuperf/inference/backend/openai/openaitest"
)

func TestMain(m *testing.M) { backendtest.Main(m) }

// TestEveryBackendRuns starts each built-in backend with its defaults and
// checks that every issued sample comes back once.
func TestEveryBackendRuns(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			if name == "cuda" {
				skipWithoutDriver(t)
			}
			b, err := New(name, testOptions(t, name))
			if err != nil {
				t.Fatalf("New(%q) = %v", name, err)
			}
			if b.Name() != name {
				t.Errorf("Name() = %q; want %q", b.Name(), name)
			}
			f := backendtest.Start(t, b)
			const n = 50
			q := make([]inference.Sample, 5)
			for i := range n / len(q) {
				for j := range q {
					q[j] = inference.Sample{ID: uint64(i*len(q) + j), Index: uint32(j)}
				}
				b.IssueQuery(q)
			}
			b.FlushQueries()
			if err := f.Wait(n, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			seen := make(map[uint64]bool)
			for _, r := range f.Records() {
				if r.Err != nil || seen[r.ID] || r.ID >= n {
					t.Fatalf("bad completion %+v", r)
				}
				seen[r.ID] = true
			}
			if err := b.Stop(); err != nil {
				t.Fatalf("Stop() = %v", err)
			}
		})
	}
}

// testOptions returns the options backend name needs to run here: a test
// server for those in front of one.
func testOptions(t *testing.T, name string) map[string]string {
	switch name {
	case "openai":
		_, ts := openaitest.Serve(t, openaitest.Config{})
		return map[string]string{"url": ts.URL, "model": "test-model"}
	case "kserve":
		srv := kservetest.New(t, kservetest.Options{})
		return map[string]string{"endpoint": srv.Addr(), "model": "simple"}
	}
	return nil
}

// TestStandalone: every standalone backend is built in and runs with no
// options.
func TestStandalone(t *testing.T) {
	for _, name := range Standalone() {
		if !slices.Contains(Names(), name) {
			t.Errorf("standalone %q is not among Names()", name)
		}
		if _, err := New(name, nil); err != nil {
			t.Errorf("New(%q, nil) = %v", name, err)
		}
	}
}

func TestUnknown(t *testing.T) {
	_, err := New("gpu", nil)
	if !errors.Is(err, ErrUnknownBackend) {
		t.Fatalf("New(gpu) = %v; want ErrUnknownBackend", err)
	}
	if want := `unknown backend "gpu" (want null, sim, cpu, openai, kserve or cuda)`; err.Error() != want {
		t.Errorf("New(gpu) = %q; want %q", err, want)
	}
	for _, name := range Names() {
		// The options are read before anything else: cuda's fail the
		// same with or without a driver.
		if _, err := New(name, map[string]string{"nope": "1"}); !errors.Is(err, backend.ErrUnknownOption) {
			t.Errorf("New(%s, nope=1) = %v; want ErrUnknownOption", name, err)
		}
	}
}

// skipWithoutDriver skips where there is no CUDA driver (this project's
// CI), after checking that the backend says so in the one line a user
// must see.
func skipWithoutDriver(t *testing.T) {
	t.Helper()
	_, err := New("cuda", nil)
	if err == nil {
		return
	}
	if !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("New(cuda) = %v; want backend.ErrUnavailable", err)
	}
	t.Skipf("no GPU here: %v", err)
}

func TestCudaWithoutDriver(t *testing.T) {
	_, err := New("cuda", nil)
	if err == nil {
		t.Skip("a CUDA driver and device are here")
	}
	if !errors.Is(err, backend.ErrUnavailable) || strings.Contains(err.Error(), "\n") {
		t.Errorf("New(cuda) = %q; want one line, backend.ErrUnavailable", err)
	}
}
