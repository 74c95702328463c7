package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/gpuperf/gpuperf/results"
	"github.com/gpuperf/gpuperf/results/report"
)

// refuseUnfair implements --strict: when the fairness preflight found a
// material difference between the sides, it prints the preflight instead
// of the numbers and refuses to compare (exit 2), naming every material
// difference.
func refuseUnfair(cmd *cobra.Command, v *viper.Viper, c *results.Comparison) error {
	if !v.GetBool("strict") || c.Fairness == nil || c.Fairness.MaterialDifferences == 0 {
		return nil
	}
	if err := report.WriteFairness(cmd.OutOrStdout(), c.Fairness); err != nil {
		return err
	}
	var list []string
	for _, it := range c.Fairness.Material() {
		d := fmt.Sprintf("%s (baseline %s, candidate %s", it.Label, orNone(it.Baseline), orNone(it.Candidate))
		if it.Note != "" {
			d += ": " + it.Note
		}
		list = append(list, d+")")
	}
	return &exitError{code: exitUsage, err: fmt.Errorf("--strict: refusing to compare, the sides differ materially in %d item(s): %s",
		len(list), strings.Join(list, "; "))}
}

func orNone(s string) string {
	if s == "" {
		return "not reported"
	}
	return s
}
