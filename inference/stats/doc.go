// Package stats computes the latency statistics MLPerf LoadGen 6.0.17 prints,
// with LoadGen's own definitions, so that gpuperf's numbers mean what MLPerf's
// numbers mean.
//
// Percentiles are nearest rank on the ascending sort: the p-th percentile of
// n values is sorted[floor(n·p)], 0-based, the index computed in double and
// truncated (loadgen/results.cc). That is neither numpy's default linear
// interpolation nor its "lower" method (sorted[floor(p·(n−1))]); with n = 100
// and p = 0.99 it picks the maximum. The mean is an integer sum divided by the
// count with integer division.
//
// Early stopping follows loadgen/early_stopping.cc and the rules appendix
// "Early Stopping Criterion": with confidence 0.99 and tolerance 0, a run
// with t over-latency queries needs h(t) under-latency ones, where h(t) is the
// smallest h with I_p(h, t+1) < 0.01 (I is the regularized incomplete beta
// function, the binomial CDF). SingleStream and MultiStream use it to choose
// which high latency to report; Server uses it as a pass/fail test.
package stats
