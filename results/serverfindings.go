package results

import (
	"fmt"
	"math"
)

// Findings from the serving stack's own statistics (Result.ServerStats,
// Triton's statistics extension): they tell a gap in the model's execution
// from one in the queue in front of it, and both from a gap between the
// client and the server.
const (
	FindingServerCompute = "server-compute"
	FindingServerQueue   = "server-queue"
	FindingOutsideServer = "outside-server"
)

// Server metrics (internal keys), in ms per request.
const (
	mSrvRequest = "server_request_ms"
	mSrvQueue   = "server_queue_ms"
	mSrvInfer   = "server_compute_infer_ms"
	mSrvPrefill = "server_prefill_ms" // LLM servers: prompt processing ...
	mSrvDecode  = "server_decode_ms"  // ... and token generation
	mClientMean = "client_mean_latency_ms"
)

const (
	floorServerRel  = 0.03 // server times: 3% of the larger side ...
	floorServerMs   = 0.02 // ... and 20 µs
	weightServer    = 1.0
	outsideShareMin = 0.5 // the server explains under half the client's gap
)

// observeServer adds one run's server statistics and the client's mean
// latency to o.
func observeServer(o *sideObs, r runFile, put func(string, float64)) {
	if m := r.Res.Latency.MeanNs; m > 0 {
		put(mClientMean, float64(m)/1e6)
	}
	st := r.Res.ServerStats
	switch {
	case st == nil:
	case st.Unavailable != "":
		o.why[mSrvRequest] = st.Unavailable
	case st.Requests > 0:
		put(mSrvRequest, st.RequestNs/1e6)
		put(mSrvQueue, st.QueueNs/1e6)
		put(mSrvInfer, st.ComputeInferNs/1e6)
		if st.PrefillNs > 0 || st.DecodeNs > 0 {
			put(mSrvPrefill, st.PrefillNs/1e6)
			put(mSrvDecode, st.DecodeNs/1e6)
		}
	}
}

// serverFindings compares one scenario's server statistics. Each finding
// is about the side that did worse (either side when the retained value is
// unknown).
func serverFindings(name string, sc ScenarioComparison, b, c sideObs) []scored {
	var out []scored
	worse := ""
	if r := sc.RetainedPct; r != nil {
		worse = RoleCandidate
		if *r > 100 {
			worse = RoleBaseline
		}
	}
	onWorse := func(hi string) bool { return worse == "" || hi == worse }
	beyond := func(p pair) bool {
		return p.ok() && beyondNoise(p.b, p.c, math.Max(floorServerMs, floorServerRel*math.Max(p.b.mean, p.c.mean)))
	}
	share := func(p pair) float64 { return math.Abs(p.c.mean-p.b.mean) / math.Max(p.b.mean, p.c.mean) }

	inf := both(b, c, mSrvInfer)
	if beyond(inf) {
		if _, hi, _, _ := inf.lower(); onWorse(hi) {
			text := fmt.Sprintf("per request, the model's execution on the server (compute_infer) took %s%s", inf.bothText("ms", 3), signedPct(inf))
			if pf, dc := both(b, c, mSrvPrefill), both(b, c, mSrvDecode); pf.ok() && dc.ok() {
				text += fmt.Sprintf(": prompt processing (prefill) %s%s, token generation (decode) %s%s", pf.bothText("ms", 3), signedPct(pf), dc.bothText("ms", 3), signedPct(dc))
			}
			text += fmt.Sprintf("; the model itself ran slower on the %s, so the gap is in the GPU's work, not around it", hi)
			out = append(out, scored{inf.finding(name, FindingServerCompute, mSrvInfer, "ms", text+"."), weightServer * share(inf)})
		}
	}
	q := both(b, c, mSrvQueue)
	if beyond(q) {
		if _, hi, _, hiV := q.lower(); onWorse(hi) {
			text := fmt.Sprintf("per request, the wait in the server's queue was %s: on the %s the model's instances were busy, so requests queued in front of them", q.bothText("ms", 3), hi)
			// Scored as the share of the request's time the extra wait is.
			req := both(b, c, mSrvRequest)
			den := hiV
			if req.ok() {
				den = math.Max(den, math.Max(req.b.mean, req.c.mean))
			}
			out = append(out, scored{q.finding(name, FindingServerQueue, mSrvQueue, "ms", text+"."), weightServer * math.Abs(q.c.mean-q.b.mean) / den})
		}
	}
	// The client waited longer, the server did not: the time went between
	// them. Offline's latencies are the burst's queueing, not a request's.
	if sc.Scenario == "Offline" {
		return out
	}
	cl, req := both(b, c, mClientMean), both(b, c, mSrvRequest)
	if !beyond(cl) || !req.ok() {
		return out
	}
	_, hi, _, _ := cl.lower()
	clientGap := cl.c.mean - cl.b.mean
	serverGap := req.c.mean - req.b.mean
	if !onWorse(hi) || math.Abs(serverGap) >= outsideShareMin*math.Abs(clientGap) {
		return out
	}
	outside := math.Abs(clientGap - serverGap)
	text := fmt.Sprintf("the client saw a mean latency of %s, while the server spent %s per request: %.3f ms of the %s's extra time lies between client and server (the network, the RPC or HTTP stack, the client's CPU), not in the model's execution", cl.bothText("ms", 3), req.bothText("ms", 3), outside, hi)
	out = append(out, scored{cl.finding(name, FindingOutsideServer, mClientMean, "ms", text+"."), weightServer * outside / math.Max(cl.b.mean, cl.c.mean)})
	return out
}

// SummarizeServers sets each scenario's Server from the counted runs'
// server_stats; scenarios whose runs have none keep a nil Server.
func SummarizeServers(c *Comparison) {
	bRuns := loadRuns(c.cache, c.Baseline, c.Scenarios, RoleBaseline)
	cRuns := loadRuns(c.cache, c.Candidate, c.Scenarios, RoleCandidate)
	for i := range c.Scenarios {
		sc := &c.Scenarios[i]
		name := sc.Benchmark + " " + sc.Scenario
		b, k := serverSide(counted(bRuns, name)), serverSide(counted(cRuns, name))
		if b != nil || k != nil {
			sc.Server = &ServerTimes{Baseline: b, Candidate: k}
		}
	}
}

// serverSide averages runs' server statistics; nil when none has any.
func serverSide(runs []runFile) *ServerSide {
	var out ServerSide
	var client, req, queue, infer, prefill, decode []float64
	seen := false
	for _, r := range runs {
		st := r.Res.ServerStats
		if st == nil {
			continue
		}
		seen = true
		out.Source = st.Source
		if st.Unavailable != "" || st.Requests == 0 {
			out.Unavailable = cmpOr(st.Unavailable, "the server counted no request in the window")
			continue
		}
		out.Runs++
		if m := r.Res.Latency.MeanNs; m > 0 {
			client = append(client, float64(m)/1e6)
		}
		req = append(req, st.RequestNs/1e6)
		queue = append(queue, st.QueueNs/1e6)
		infer = append(infer, st.ComputeInferNs/1e6)
		if st.PrefillNs > 0 || st.DecodeNs > 0 {
			prefill = append(prefill, st.PrefillNs/1e6)
			decode = append(decode, st.DecodeNs/1e6)
		}
	}
	if !seen {
		return nil
	}
	if out.Runs > 0 {
		out.Unavailable = ""
	}
	out.ClientMeanMs, out.RequestMs, out.QueueMs, out.InferMs = meanOf(client), meanOf(req), meanOf(queue), meanOf(infer)
	out.PrefillMs, out.DecodeMs = meanOf(prefill), meanOf(decode)
	return &out
}

// meanOf is the mean of v, nil when v is empty.
func meanOf(v []float64) *float64 {
	if len(v) == 0 {
		return nil
	}
	var s float64
	for _, x := range v {
		s += x
	}
	m := s / float64(len(v))
	return &m
}
