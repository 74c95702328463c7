package null

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend"
	"github.com/gpuperf/gpuperf/inference/backend/backendtest"
)

func TestMain(m *testing.M) { backendtest.Main(m) }

func newNull(t testing.TB) *Backend {
	t.Helper()
	b, err := New(nil)
	if err != nil {
		t.Fatalf("New(nil) = %v", err)
	}
	return b
}

func TestCompletesInline(t *testing.T) {
	b := newNull(t)
	f := backendtest.Start(t, b)

	b.IssueQuery([]inference.Sample{{ID: 7}})
	if got := f.Records(); len(got) != 1 || got[0].ID != 7 || got[0].Batch != 1 {
		t.Fatalf("after one sample: records = %+v; want ID 7 alone", got)
	}

	// A 1000-sample query is completed, in order, before IssueQuery returns.
	q := make([]inference.Sample, 1000)
	for i := range q {
		q[i].ID = uint64(100 + i)
	}
	b.IssueQuery(q)
	recs := f.Records()[1:]
	if len(recs) != len(q) {
		t.Fatalf("%d completions; want %d", len(recs), len(q))
	}
	for i, r := range recs {
		if r.ID != q[i].ID || r.Err != nil {
			t.Fatalf("completion %d = %+v; want ID %d", i, r, q[i].ID)
		}
		if r.Batch > chunk {
			t.Fatalf("CompleteBatch of %d; want at most %d", r.Batch, chunk)
		}
	}
}

func TestDropsWhenNotStarted(t *testing.T) {
	b := newNull(t)
	f := new(backendtest.Fake)
	b.IssueQuery([]inference.Sample{{ID: 1}}) // before Start: dropped
	if err := b.StartWith(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if err := b.StartWith(context.Background(), f); err == nil {
		t.Error("second StartWith() = nil; want an error")
	}
	b.IssueQuery([]inference.Sample{{ID: 2}})
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	b.IssueQuery([]inference.Sample{{ID: 3}, {ID: 4}}) // after Stop: dropped
	if got := f.Records(); len(got) != 1 || got[0].ID != 2 {
		t.Fatalf("records = %+v; want only ID 2", got)
	}
	if err := b.Start(context.Background(), nil); err == nil {
		t.Error("Start(ctx, nil) = nil; want an error")
	}
}

func TestRejectsOptions(t *testing.T) {
	if _, err := New(map[string]string{"latency": "1ms"}); !errors.Is(err, backend.ErrUnknownOption) {
		t.Fatalf("New(latency=1ms) = %v; want ErrUnknownOption", err)
	}
}

func TestZeroAllocs(t *testing.T) {
	b := newNull(t)
	backendtest.StartWith(t, b, new(backendtest.Counter))
	one := []inference.Sample{{ID: 1}}
	many := make([]inference.Sample, 1000)
	if a := testing.AllocsPerRun(100, func() { b.IssueQuery(one) }); a != 0 {
		t.Errorf("IssueQuery(1 sample) allocates %v times; want 0", a)
	}
	if a := testing.AllocsPerRun(100, func() { b.IssueQuery(many) }); a != 0 {
		t.Errorf("IssueQuery(1000 samples) allocates %v times; want 0", a)
	}
}

func BenchmarkIssueQuery(b *testing.B) {
	for _, n := range []int{1, 8, 1024} {
		b.Run(fmt.Sprintf("samples=%d", n), func(b *testing.B) {
			be := newNull(b)
			var c backendtest.Counter
			backendtest.StartWith(b, be, &c)
			q := make([]inference.Sample, n)
			b.ReportAllocs()
			for b.Loop() {
				be.IssueQuery(q)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(c.N()), "ns/sample")
		})
	}
}
