package interference

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// startNetwork opens a loopback listener and streams into it over
// Streams connections: every byte goes through the host's TCP stack twice
// (send and receive), costing CPU time and memory bandwidth as a chatty
// co-tenant would.
func startNetwork(l *Load) (func(*Report, time.Duration), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	var received atomic.Uint64
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if l.ctx.Err() != nil {
			c.Close()
			return false
		}
		conns = append(conns, c)
		return true
	}
	// Closing the listener and every connection ends the workers' blocking
	// calls once the load is stopped.
	l.wg.Go(func() {
		<-l.ctx.Done()
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	l.wg.Go(func() {
		for range l.spec.Streams {
			c, err := ln.Accept()
			if err != nil {
				if l.ctx.Err() == nil {
					l.fail(fmt.Errorf("accept: %w", err))
				}
				return
			}
			if !track(c) {
				return
			}
			l.wg.Go(func() {
				buf := make([]byte, 256<<10)
				for {
					n, err := c.Read(buf)
					received.Add(uint64(n))
					if err != nil {
						if l.ctx.Err() == nil && !errors.Is(err, io.EOF) {
							l.fail(fmt.Errorf("receive: %w", err))
						}
						return
					}
				}
			})
		}
	})
	block := make([]byte, l.spec.BlockKB<<10)
	for i := range block {
		block[i] = byte(i * 7)
	}
	for range l.spec.Streams {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			l.cancel()
			return nil, fmt.Errorf("connect over loopback: %w", err)
		}
		if !track(c) {
			break
		}
		l.wg.Go(func() {
			pace := newPacer(l.spec.RateMBps, l.spec.Streams)
			var sent uint64
			for {
				n, err := c.Write(block)
				sent += uint64(n)
				if err != nil {
					if l.ctx.Err() == nil {
						l.fail(fmt.Errorf("send: %w", err))
					}
					return
				}
				if !pace.wait(l.ctx, sent) {
					return
				}
			}
		})
	}
	return func(r *Report, d time.Duration) {
		r.Unit = "MB/s"
		r.Target = l.spec.RateMBps
		r.Achieved = float64(received.Load()) / 1e6 / d.Seconds()
		r.Counters["bytes"] = float64(received.Load())
		r.Counters["streams"] = float64(l.spec.Streams)
	}, nil
}
