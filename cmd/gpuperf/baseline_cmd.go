package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/gpuperf/gpuperf/coordinator"
	"github.com/gpuperf/gpuperf/results"
	"github.com/gpuperf/gpuperf/results/history"
)

func newBaselineCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "baseline",
		Short: "Name runs of the history as baselines: tag, untag, list",
		Long: `baseline names runs of the run history, so a plan or a comparison can use
them as its baseline without a folder:

  gpuperf baseline tag RUN NAME     tag a run (RUN: the number gpuperf history
                                    shows, a tree's run id, or its folder)
  gpuperf baseline untag NAME
  gpuperf baseline list

  gpuperf compare --plan nightly.yaml --baseline tag:NAME
  gpuperf compare --plan nightly.yaml --baseline last-good

tag:NAME stands for the tagged run's candidate host (--side baseline takes
its baseline side); last-good for the candidate host of the newest run of
the same plan on the same candidate hosts whose gate passed. Either
resolves to the stored result tree (TREE/HOST) before the plan runs; a
plain --baseline DIR works as before.`,
	}
	cmd.AddCommand(newBaselineTagCommand(), newBaselineUntagCommand(), newBaselineListCommand())
	return cmd
}

var tagName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func newBaselineTagCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tag RUN NAME",
		Short: "Tag a run as a baseline",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageErrorf("baseline tag takes a run and a name (gpuperf baseline tag RUN NAME), got %d arguments", len(args))
			}
			return nil
		},
	}
	addStoreFlag(cmd)
	cmd.Flags().String("side", results.RoleCandidate, "which of the run's sides stands in as the baseline: candidate (its measured host) or baseline")
	cmd.Flags().Bool("force", false, "move the tag when it already names another run")
	v := bindViper(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		name := args[1]
		if !tagName.MatchString(name) {
			return usageErrorf("tag name %q: use letters, digits, '.', '_' and '-'", name)
		}
		side := v.GetString("side")
		if side != results.RoleCandidate && side != results.RoleBaseline {
			return usageErrorf("--side: must be candidate or baseline, got %q", side)
		}
		ctx := cmd.Context()
		s, err := openStore(ctx, v)
		if err != nil {
			return err
		}
		defer s.Close()
		rec, err := s.Find(ctx, args[0])
		if err != nil {
			return storeError(err)
		}
		dir, err := baselineDir(rec, side)
		if err != nil {
			return err
		}
		if err := s.SetTag(ctx, name, rec.ID, side, recorder(), v.GetBool("force")); err != nil {
			return storeError(err)
		}
		_, err = fmt.Fprintf(cmd.OutOrStdout(), "tag:%s → run %d (%s, %s), %s\n", name, rec.ID, rec.Kind, rec.StartedAt.Format("2006-01-02 15:04"), dir)
		return err
	}
	return cmd
}

func newBaselineUntagCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "untag NAME",
		Short: "Remove a tag",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("baseline untag takes one tag name, got %d arguments", len(args))
			}
			return nil
		},
	}
	addStoreFlag(cmd)
	v := bindViper(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		s, err := openStore(cmd.Context(), v)
		if err != nil {
			return err
		}
		defer s.Close()
		return storeError(s.DeleteTag(cmd.Context(), args[0]))
	}
	return cmd
}

func newBaselineListCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the tags",
		Args:  cobra.NoArgs,
	}
	addStoreFlag(cmd)
	cmd.Flags().String("format", "table", "table or json")
	v := bindViper(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		format := v.GetString("format")
		if format != "table" && format != "json" {
			return usageErrorf("--format: must be table or json, got %q", format)
		}
		s, err := openStore(cmd.Context(), v)
		if err != nil {
			return err
		}
		defer s.Close()
		tags, err := s.Tags(cmd.Context())
		if err != nil {
			return storeError(err)
		}
		return writeTags(cmd.OutOrStdout(), tags, format)
	}
	return cmd
}

func writeTags(w io.Writer, tags []history.Tag, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if tags == nil {
			tags = []history.Tag{}
		}
		return enc.Encode(tags)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TAG\tRUN\tSIDE\tTAGGED\tBY\tTREE")
	for _, t := range tags {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", t.Name, t.Run, t.Side, t.CreatedAt.Local().Format("2006-01-02 15:04"), t.CreatedBy, t.Tree)
	}
	return tw.Flush()
}

// baselineDir is the folder that stands in as a baseline for one side of
// a recorded run: the tree itself for its baseline side (as a plain
// --baseline DIR), TREE/HOST for its candidate host.
func baselineDir(rec *history.Record, side string) (string, error) {
	switch rec.Kind {
	case history.KindBench:
		return "", usageErrorf("run %d is a bench run (%s): a baseline is a result tree of gpuperf run or compare, or a published MLPerf system", rec.ID, rec.Tree)
	case history.KindMLPerf:
		return rec.Tree, nil
	}
	if _, err := os.Stat(filepath.Join(rec.Tree, "run.json")); err != nil {
		return "", usageErrorf("run %d's result tree is gone (%v); the history keeps only what is needed to query, the tree holds the runs", rec.ID, err)
	}
	if side == results.RoleBaseline {
		return rec.Tree, nil
	}
	var hosts []string
	for _, h := range rec.Hosts {
		if h.Role == results.RoleCandidate {
			hosts = append(hosts, h.Name)
		}
	}
	switch len(hosts) {
	case 0:
		return "", usageErrorf("run %d (%s) has no candidate host", rec.ID, rec.Tree)
	case 1:
		return filepath.Join(rec.Tree, hosts[0]), nil
	}
	return "", usageErrorf("run %d has %d candidate hosts (%s); a stored baseline stands in for one: name it as --baseline %s",
		rec.ID, len(hosts), strings.Join(hosts, ", "), filepath.Join(rec.Tree, hosts[0]))
}

// resolveBaseline turns last-good or tag:NAME into a stored tree folder,
// and says what it chose. Alternatives separated by commas are tried in
// order (last-good,tag:known-good: the last good night, or before there
// is one the known-good run); only a reference that names nothing moves on
// to the next.
//
// exclude is a tree that cannot be its own baseline (the candidate of a
// stored comparison).
func (h *runHistory) resolveBaseline(ctx context.Context, ref, planHash, candidate, exclude string) (dir, desc string, err error) {
	switch {
	case h.off:
		return "", "", usageErrorf("--baseline %s names a run in the run history, but --store is off", ref)
	case h.store == nil:
		return "", "", &exitError{code: exitFailure, err: fmt.Errorf("--baseline %s: %v", ref, h.unreachable)}
	}
	alts := strings.Split(ref, ",")
	var missing []string
	for _, alt := range alts {
		alt = strings.TrimSpace(alt)
		if !coordinator.IsStoreReference(alt) {
			return "", "", usageErrorf("--baseline %s: %q is not last-good or tag:NAME (a list of alternatives names runs of the history only)", ref, alt)
		}
		rec, dir, why, err := h.resolveOne(ctx, alt, planHash, candidate, exclude)
		if err != nil {
			return "", "", err
		}
		if rec == nil {
			missing = append(missing, why)
			continue
		}
		desc = fmt.Sprintf("%s: run %d (%s), %s", alt, rec.ID, rec.StartedAt.Format(time.RFC3339), dir)
		for _, m := range missing {
			fmt.Fprintf(h.stderr, "gpuperf: baseline: %s; taking the next alternative\n", m)
		}
		fmt.Fprintf(h.stderr, "gpuperf: baseline %s\n", desc)
		return dir, desc, nil
	}
	return "", "", usageErrorf("--baseline %s: %s", ref, strings.Join(missing, "; "))
}

// resolveOne resolves one reference: the record and folder, or why it
// names nothing (rec nil), or an error that ends the search.
func (h *runHistory) resolveOne(ctx context.Context, ref, planHash, candidate, exclude string) (rec *history.Record, dir, why string, err error) {
	s := h.store
	if name, ok := strings.CutPrefix(ref, coordinator.BaselineTagPrefix); ok {
		tag, err := s.LookupTag(ctx, name)
		if errors.Is(err, history.ErrNotFound) {
			return nil, "", fmt.Sprintf("no tag %q in %s (gpuperf baseline list shows the tags)", name, s.Where()), nil
		}
		if err != nil {
			return nil, "", "", storeError(err)
		}
		if rec, err = s.Get(ctx, tag.Run); err != nil {
			return nil, "", "", storeError(err)
		}
		if dir, err = baselineDir(rec, tag.Side); err != nil {
			return nil, "", "", err
		}
		return rec, dir, "", nil
	}
	if planHash == "" {
		return nil, "", "", usageErrorf("--baseline last-good finds the newest passing run of the same plan, but there is no plan here (a candidate tree without plan.yaml)")
	}
	recs, err := s.LastGood(ctx, planHash, candidate, 50)
	if err != nil {
		return nil, "", "", storeError(err)
	}
	for _, r := range recs {
		if exclude != "" && r.Tree == exclude {
			continue
		}
		full, err := s.Get(ctx, r.ID)
		if err != nil {
			return nil, "", "", storeError(err)
		}
		d, derr := baselineDir(full, results.RoleCandidate)
		if derr == nil {
			return full, d, "", nil
		}
		fmt.Fprintf(h.stderr, "gpuperf: warning: last-good skips run %d: %v\n", r.ID, derr)
	}
	return nil, "", fmt.Sprintf("no run of this plan (plan hash %s) on %s has passed its gate in %s yet; give the first baseline with --baseline DIR or tag:NAME, or as an alternative: last-good,tag:NAME", planHash, candidate, s.Where()), nil
}

// startStoredHistory is startHistory for gpuperf compare of stored
// results: --baseline last-good or tag:NAME becomes the stored folder.
func startStoredHistory(cmd *cobra.Command, v *viper.Viper, args []string) (*runHistory, error) {
	h, err := startHistory(cmd, v)
	if err != nil {
		return nil, err
	}
	h.rec = &history.Record{}
	ref := v.GetString("baseline")
	if !cmd.Flags().Changed("baseline") || !coordinator.IsStoreReference(ref) {
		return h, nil
	}
	hash, candidate, exclude := "", "", ""
	if len(args) == 1 {
		exclude, _ = filepath.Abs(args[0])
		if t, err := results.Open(args[0]); err == nil {
			if m, err := t.ReadManifest(); err == nil {
				var names []string
				for _, host := range m.Hosts {
					if host.Role == results.RoleCandidate {
						names = append(names, host.Name)
					}
				}
				candidate = strings.Join(names, "+")
			}
			if b, err := os.ReadFile(filepath.Join(args[0], "plan.yaml")); err == nil {
				hash = hashPlanYAML(b)
			}
		}
	}
	dir, desc, err := h.resolveBaseline(cmd.Context(), ref, hash, candidate, exclude)
	if err != nil {
		h.close()
		return nil, err
	}
	v.Set("baseline", dir)
	h.rec.BaselineRef, h.rec.PlanHash = desc, hash
	h.followsLastGood = strings.HasPrefix(desc, coordinator.BaselineLastGood)
	return h, nil
}
