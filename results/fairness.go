package results

// Fairness is the preflight of a comparison: the two sides' fingerprints
// side by side, item by item, before any number is compared. A material
// difference is one that by rule changes what the numbers mean (another GPU
// model, driver major, backend, model or seeds, power limit, ECC, MIG, an
// unlicensed vGPU); --strict refuses to compare when there is any.
type Fairness struct {
	Items []FairnessItem `json:"items"`
	// MaterialDifferences counts the items with Material set.
	MaterialDifferences int `json:"material_differences"`
	// SamePhysicalGPU is "yes" when both sides report the same GPU serial
	// numbers, "no" when they report different ones, "unknown" when a side
	// reports none.
	SamePhysicalGPU string `json:"same_physical_gpu"`
}

// FairnessItem is one fingerprint field on both sides.
type FairnessItem struct {
	// Key is a stable identifier (gpu.model, driver.version, ...); Label
	// says it in words.
	Key   string `json:"key"`
	Label string `json:"label"`
	// Baseline and Candidate are the values as printed; "" when the side
	// does not report the field.
	Baseline  string `json:"baseline"`
	Candidate string `json:"candidate"`
	// Same: both sides report the same value (or both report none).
	Same bool `json:"same"`
	// Material: the difference changes what the comparison means.
	Material bool `json:"material"`
	// Note explains a material difference or qualifies the comparison of
	// the values (e.g. "major 550 vs 535").
	Note string `json:"note,omitempty"`
}
