package agent

import (
	"encoding/json"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gpuperf/gpuperf/gpu"
	"github.com/gpuperf/gpuperf/inference"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

// WatchVgpu samples, on a vGPU hypervisor host, every vGPU's utilization
// and the scheduler's state while a candidate in one of its guests runs:
// from the first request until the coordinator closes its side. It does
// not take the run slot: a hypervisor's agent may also run its own plans.
func (s *Server) WatchVgpu(stream grpc.BidiStreamingServer[gpuperfv1.WatchVgpuRequest, gpuperfv1.WatchVgpuEvent]) error {
	req, err := stream.Recv()
	if err != nil {
		return err
	}
	if !s.gpu.Available() {
		return status.Errorf(codes.FailedPrecondition, "cannot watch vGPUs: GPU telemetry unavailable: %s", s.gpu.Unavailable())
	}
	iv, err := s.cfg.GPU.interval()
	if err != nil || iv == 0 {
		iv = gpu.DefaultInterval // telemetry off in the guest sense still watches
	}
	smp, err := s.gpu.NewVGPUHostSampler(gpu.SamplerConfig{Interval: iv, Clock: inference.Now, Logger: s.log})
	if errors.Is(err, gpu.ErrNotVGPUHost) {
		return status.Errorf(codes.FailedPrecondition, "cannot watch vGPUs: %v (run this agent on the hypervisor host)", err)
	}
	if err != nil {
		return status.Errorf(codes.FailedPrecondition, "cannot watch vGPUs: %v", err)
	}
	defer smp.Close()
	log := s.log.With("watch", req.RunId)
	log.Info("vGPU watch started")
	smp.Window(true, inference.Now())
	if err := stream.Send(&gpuperfv1.WatchVgpuEvent{Event: &gpuperfv1.WatchVgpuEvent_Started{Started: true}}); err != nil {
		return err
	}
	for {
		if _, err := stream.Recv(); err == io.EOF {
			break
		} else if err != nil {
			// The coordinator went away: nothing to report to.
			return err
		}
	}
	smp.Window(false, inference.Now())
	b, err := json.Marshal(smp.Summary())
	if err != nil {
		return status.Errorf(codes.Internal, "encode vGPU summary: %v", err)
	}
	log.Info("vGPU watch ended")
	return stream.Send(&gpuperfv1.WatchVgpuEvent{Event: &gpuperfv1.WatchVgpuEvent_SummaryJson{SummaryJson: b}})
}
