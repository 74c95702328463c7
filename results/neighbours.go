package results

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gpuperf/gpuperf/gpu"
)

// floorNeighbourPts is the neighbours' SM share, in points of the physical
// GPU, at or below which they are not a finding.
const floorNeighbourPts = 5.0

// neighbourFindings reads what the candidate's hypervisor agent saw
// (vgpu_host.json) and reports, per scenario, how much of the physical GPU
// other vGPUs used during the candidate's timed runs: on a time-sliced
// vGPU, busy neighbours take time the candidate would otherwise get. The
// candidate's own vGPU is the instance whose UUID its fingerprint lists;
// without a match, the busiest instance is taken to be the candidate's
// (it ran a benchmark). Score: the neighbours' share /100 × 0.9.
func neighbourFindings(c *Comparison, runs []runFile) []scored {
	own := map[string]bool{}
	for _, h := range c.Candidate.Hosts {
		if fp, ok := hostFingerprint(h); ok {
			for _, d := range fp.GPUs {
				own[d.UUID] = true
			}
		}
	}
	type acc struct {
		share  []float64
		policy string
	}
	per := map[string]*acc{}
	var order []string
	for _, r := range runs {
		sum, ok := readVGPUHost(r)
		if !ok {
			continue
		}
		share, policy, ok := neighbourShare(sum, own)
		if !ok && len(own) > 0 {
			// The guest's UUIDs matched no instance: fall back to the
			// busiest instance as the candidate's.
			share, policy, ok = neighbourShare(sum, nil)
		}
		if !ok {
			continue
		}
		a, seen := per[r.Scenario]
		if !seen {
			a = &acc{}
			per[r.Scenario] = a
			order = append(order, r.Scenario)
		}
		a.share = append(a.share, share)
		a.policy = policy
	}
	var out []scored
	for _, name := range order {
		a := per[name]
		mean := 0.0
		for _, v := range a.share {
			mean += v
		}
		mean /= float64(len(a.share))
		if mean <= floorNeighbourPts {
			continue
		}
		v := mean
		text := fmt.Sprintf("other vGPUs on the candidate's physical GPU used %.0f%% of its SM during the candidate's timed runs (mean of %d, seen by the hypervisor's agent", mean, len(a.share))
		if a.policy != "" {
			text += "; vGPU scheduler " + a.policy
		}
		text += "): the neighbours, not virtualization itself, may account for the gap"
		out = append(out, scored{
			f:     Finding{Scenario: name, Kind: FindingNeighbours, Metric: "neighbour_sm_util_pct", Candidate: &v, Unit: "%", Text: text},
			score: mean / 100 * 0.9,
		})
	}
	return out
}

// neighbourShare is the summed mean SM utilization of every vGPU but the
// candidate's on the physical GPU that carries the candidate's vGPU, and
// that GPU's scheduler policy at the window's start.
func neighbourShare(sum gpu.VGPUHostSummary, own map[string]bool) (share float64, policy string, ok bool) {
	for _, d := range sum.Devices {
		mine := -1
		busiest, most := -1, -1.0
		for i, in := range d.Instances {
			if own[in.UUID] {
				mine = i
			}
			if in.SM != nil && in.SM.Mean > most {
				busiest, most = i, in.SM.Mean
			}
		}
		if mine < 0 && len(own) > 0 && anyUUID(d.Instances) {
			continue // the candidate is not on this GPU
		}
		if mine < 0 {
			mine = busiest
		}
		if mine < 0 {
			continue
		}
		for i, in := range d.Instances {
			if i != mine && in.SM != nil {
				share += in.SM.Mean
			}
		}
		return share, schedulerText(d.SchedulerStart), true
	}
	return 0, "", false
}

func anyUUID(ins []gpu.VGPUInstance) bool {
	for _, in := range ins {
		if in.UUID != "" {
			return true
		}
	}
	return false
}

// vgpuSchedulers lists the vGPU scheduler states the hypervisor's agent
// recorded in a side's runs (vgpu_host.json), or "" when none did.
func vgpuSchedulers(runs []runFile) string {
	var seen []string
	for _, r := range runs {
		sum, ok := readVGPUHost(r)
		if !ok {
			continue
		}
		for _, d := range sum.Devices {
			if st := schedulerText(d.SchedulerStart); st != "" {
				seen = append(seen, st)
			}
		}
	}
	return joinDistinct(seen, ", ")
}

// schedulerText is a scheduler state as the reports print it.
func schedulerText(st *gpu.VGPUScheduler) string {
	if st == nil || st.Policy == "" {
		return ""
	}
	s := strings.ReplaceAll(st.Policy, "_", "-")
	if st.TimesliceUs > 0 {
		s += fmt.Sprintf(", time slice %d µs", st.TimesliceUs)
	}
	return s
}

// readVGPUHost reads what a run's hypervisor agent saw; ok is false for a
// run without one (or with a file that does not parse).
func readVGPUHost(r runFile) (gpu.VGPUHostSummary, bool) {
	var sum gpu.VGPUHostSummary
	b, err := os.ReadFile(filepath.Join(r.Dir, VGPUHostFile))
	if err != nil || json.Unmarshal(b, &sum) != nil {
		return sum, false
	}
	return sum, true
}
