// Command oiptestserver serves kservetest's Open Inference Protocol test
// server on its own, for benchmarks and manual checks of the kserve
// backend:
//
//	go run ./inference/backend/kserve/kservetest/oiptestserver -addr 127.0.0.1:8001 -model simple
//
// It prints "listening on HOST:PORT" once it accepts connections and
// serves until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/gpuperf/gpuperf/inference/backend/kserve/kservetest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8001", "address to listen on (port 0 picks a free one)")
	model := flag.String("model", "simple", "model to serve: simple (FP32 [-1,16] -> [-1,4]) or resnet50 (FP32 [-1,3,224,224] -> [-1,1000])")
	latency := flag.Duration("latency", 0, "delay of every inference response")
	failEvery := flag.Int("fail-every", 0, "fail every Nth inference (0: never)")
	flag.Parse()

	var m kservetest.Model
	switch *model {
	case "simple":
		m = kservetest.Simple()
	case "resnet50":
		m = kservetest.ResNet50()
	default:
		fmt.Fprintf(os.Stderr, "oiptestserver: -model %q: want simple or resnet50\n", *model)
		os.Exit(2)
	}
	if *latency < 0 || *failEvery < 0 {
		fmt.Fprintln(os.Stderr, "oiptestserver: -latency and -fail-every must not be negative")
		os.Exit(2)
	}
	srv, err := kservetest.Start(kservetest.Options{
		Addr: *addr, Models: []kservetest.Model{m},
		Behavior: kservetest.Behavior{Latency: *latency, FailEvery: *failEvery},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "oiptestserver:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", srv.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	srv.Close()
	st := srv.Stats()
	fmt.Printf("served %d requests (%d samples, %d failed) on %d connections\n", st.Requests, st.Samples, st.Failed, st.Conns)
}
