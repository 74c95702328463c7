package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gpuperf/gpuperf/results"
	"github.com/gpuperf/gpuperf/results/history"
)

func newImportCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import DIR...",
		Short: "Backfill the run history from stored result trees and published MLPerf results",
		Long: `import records stored results in the run history, as if they had been
recorded when they ran:

  a gpuperf result tree     its run.json, its comparison (report.json; a tree
                            without one is compared afresh with the default
                            settings and no gate) and every run's metric
  a folder of trees         each tree in it (an output folder)
  published MLPerf results  every system under the folder
                            (<system>/<benchmark>/<Scenario>/...), dated by
                            the round's publication

A tree already in the history (recorded when it ran, or imported before) is
skipped, so import can run again over the same folders.

Exit codes: 0 ok; 1 the store cannot be reached; 2 bad usage, a folder
that holds no results, or an unusable store.`,
		Example: `  gpuperf import gpuperf-results/*
  gpuperf import /srv/nightly-results
  gpuperf import ../shared/testdata/mlperf/v4.0`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("import takes one or more folders")
			}
			return nil
		},
	}
	addStoreFlag(cmd)
	v := bindViper(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		type target struct {
			path      string
			published bool
		}
		var targets []target
		for _, dir := range args {
			trees, systems, err := history.ImportTargets(dir)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			for _, t := range trees {
				targets = append(targets, target{path: t})
			}
			for _, s := range systems {
				targets = append(targets, target{path: s, published: true})
			}
		}
		s, err := openStore(ctx, v)
		if err != nil {
			return err
		}
		defer s.Close()
		stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
		var added, skipped, failed int
		for _, t := range targets {
			if ctx.Err() != nil {
				return &exitError{code: exitInterrupted, err: fmt.Errorf("interrupted after %s", countNoun(added, "record", "records"))}
			}
			abs, _ := filepath.Abs(t.path)
			if id, ok, err := s.HasTree(ctx, abs); err != nil {
				return storeError(err)
			} else if ok {
				skipped++
				fmt.Fprintf(stderr, "gpuperf: %s is already in the history as run %d\n", t.path, id)
				continue
			}
			var rec *history.Record
			if t.published {
				rec, err = history.FromPublished(t.path)
			} else {
				rec, err = history.FromTree(t.path, hashPlanYAML)
			}
			if err != nil {
				var ie *results.InputError
				if !errors.As(err, &ie) {
					return err
				}
				failed++
				fmt.Fprintf(stderr, "gpuperf: not imported: %v\n", err)
				continue
			}
			rec.Command, rec.RecordedBy = commandLine(cmd), recorder()
			if rec.Version == "" {
				rec.Version = gpuperfVersion()
			}
			dup, err := s.Record(ctx, rec)
			if err != nil {
				return storeError(err)
			}
			if dup {
				skipped++
				fmt.Fprintf(stderr, "gpuperf: %s is already in the history as run %d\n", t.path, rec.ID)
				continue
			}
			added++
			fmt.Fprintf(stdout, "run %d: %s %s (%s)\n", rec.ID, rec.Kind, t.path, rec.StartedAt.Format("2006-01-02"))
		}
		fmt.Fprintf(stderr, "gpuperf: imported %s into %s; %d already there, %d not importable\n", countNoun(added, "record", "records"), s.Where(), skipped, failed)
		if failed > 0 {
			return &exitError{code: exitUsage, err: fmt.Errorf("%s could not be read (named above)", countNoun(failed, "folder", "folders"))}
		}
		return nil
	}
	return cmd
}
