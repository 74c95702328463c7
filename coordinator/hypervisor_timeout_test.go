package coordinator

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

// silentHypervisor accepts a watch and never answers; it reports when the
// client's side of the stream ends.
type silentHypervisor struct {
	gpuperfv1.UnimplementedAgentServer
	ended chan struct{}
}

func (s *silentHypervisor) WatchVgpu(stream grpc.BidiStreamingServer[gpuperfv1.WatchVgpuRequest, gpuperfv1.WatchVgpuEvent]) error {
	<-stream.Context().Done()
	s.ended <- struct{}{}
	return stream.Context().Err()
}

// TestHypervisorSilentTimesOut: a hypervisor that never confirms its
// window costs the run its view after the timeout, not a hang, and the
// stream is cancelled rather than left with a receiver waiting on it.
func TestHypervisorSilentTimesOut(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hv := &silentHypervisor{ended: make(chan struct{}, 1)}
	gpuperfv1.RegisterAgentServer(srv, hv)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	h := &hypervisorConn{conn: conn, client: gpuperfv1.NewAgentClient(conn), timeout: 100 * time.Millisecond}

	start := time.Now()
	w := h.start(context.Background(), "run-1", nil)
	if w.err == nil || !strings.Contains(w.err.Error(), "no answer from the hypervisor agent within 100ms") {
		t.Fatalf("start: err = %v; want the timeout", w.err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("start took %v", d)
	}
	select {
	case <-hv.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream was not cancelled after the timeout")
	}
	if b := w.finish(); b != nil {
		t.Errorf("finish() = %q; want nil", b)
	}
	w.cancel()
}
