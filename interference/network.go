package interference

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// startNetwork streams over Streams connections: to a peer agent's sink
// (Peer), across the host's network interface as a co-tenant talking to
// the world would; or into a loopback listener of its own, where every
// byte goes through the host's TCP stack twice (send and receive),
// costing CPU time and memory bandwidth as a chatty co-tenant would.
func startNetwork(l *Load) (func(*Report, time.Duration), error) {
	if l.spec.Peer != "" {
		return startPeerStreams(l)
	}
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

// tokenLen is the length of a sink's token, in hex digits.
const tokenLen = 32

// sinkHandshake bounds how long a sink waits for a new connection's token.
const sinkHandshake = 5 * time.Second

// connSet holds the connections a load closes when it stops.
type connSet struct {
	mu    sync.Mutex
	conns []net.Conn
	done  bool
}

func (s *connSet) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		c.Close()
		return false
	}
	s.conns = append(s.conns, c)
	return true
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	for _, c := range s.conns {
		c.Close()
	}
}

// startPeerStreams dials the peer's sink Streams times, sends its token,
// then streams.
func startPeerStreams(l *Load) (func(*Report, time.Duration), error) {
	var sent atomic.Uint64
	var conns connSet
	l.wg.Go(func() {
		<-l.ctx.Done()
		conns.closeAll()
	})
	block := make([]byte, l.spec.BlockKB<<10)
	for i := range block {
		block[i] = byte(i * 7)
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	for range l.spec.Streams {
		c, err := d.DialContext(l.ctx, "tcp", l.spec.Peer)
		if err != nil {
			l.cancel()
			return nil, fmt.Errorf("connect to the peer's sink at %s: %w", l.spec.Peer, err)
		}
		if !conns.add(c) {
			break
		}
		if _, err := io.WriteString(c, l.spec.PeerToken+"\n"); err != nil {
			l.cancel()
			return nil, fmt.Errorf("greet the peer's sink at %s: %w", l.spec.Peer, err)
		}
		l.wg.Go(func() {
			pace := newPacer(l.spec.RateMBps, l.spec.Streams)
			var mine uint64
			for {
				n, err := c.Write(block)
				mine += uint64(n)
				sent.Add(uint64(n))
				if err != nil {
					if l.ctx.Err() == nil {
						l.fail(fmt.Errorf("send to %s: %w", l.spec.Peer, err))
					}
					return
				}
				if !pace.wait(l.ctx, mine) {
					return
				}
			}
		})
	}
	return func(r *Report, d time.Duration) {
		r.Unit = "MB/s"
		r.Target = l.spec.RateMBps
		r.Achieved = float64(sent.Load()) / 1e6 / d.Seconds()
		r.Counters["bytes"] = float64(sent.Load())
		r.Counters["streams"] = float64(l.spec.Streams)
	}, nil
}

// startSink listens on host (the address the coordinator reached this
// agent on) for a network load's streams: each must first send the sink's
// token; what follows is counted and dropped.
func startSink(l *Load, host string) (func(*Report, time.Duration), error) {
	if host == "" {
		host = "127.0.0.1"
	}
	var raw [tokenLen / 2]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	token := hex.EncodeToString(raw[:])
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("listen for the streams: %w", err)
	}
	l.sinkAddr, l.sinkToken = ln.Addr().String(), token
	var received, accepted atomic.Uint64
	var conns connSet
	l.wg.Go(func() {
		<-l.ctx.Done()
		ln.Close()
		conns.closeAll()
	})
	l.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !conns.add(c) {
				return
			}
			l.wg.Go(func() {
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(sinkHandshake))
				got := make([]byte, tokenLen+1)
				if _, err := io.ReadFull(c, got); err != nil || subtle.ConstantTimeCompare(got[:tokenLen], []byte(token)) != 1 {
					return // not the load it waits for
				}
				c.SetReadDeadline(time.Time{})
				accepted.Add(1)
				buf := make([]byte, 256<<10)
				for {
					n, err := c.Read(buf)
					received.Add(uint64(n))
					if err != nil {
						return
					}
				}
			})
		}
	})
	return func(r *Report, d time.Duration) {
		r.Unit = "MB/s"
		r.Achieved = float64(received.Load()) / 1e6 / d.Seconds()
		r.Counters["bytes"] = float64(received.Load())
		r.Counters["streams"] = float64(accepted.Load())
	}, nil
}
