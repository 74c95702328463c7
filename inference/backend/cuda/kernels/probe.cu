// probe.cu: what `gpuperf describe --probe` launches besides the GEMMs.
#include "gp.cuh"

// probe_empty does nothing: its launch-to-completion time is the launch
// latency.
GP_KERNEL void probe_empty() {}
