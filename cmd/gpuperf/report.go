package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/gpuperf/gpuperf/internal/atomicfile"
	"github.com/gpuperf/gpuperf/results"
	"github.com/gpuperf/gpuperf/results/report"
)

func newReportCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report DIR",
		Short: "Render a stored comparison: table, JSON, Markdown, HTML or JUnit",
		Long: `report renders the comparison stored in a result tree again, in any format:

  table  the terminal table (default)
  json   the comparison itself (schema gpuperf.comparison/v1, docs/comparison-schema.md)
  md     GitHub-flavoured Markdown for a pull-request comment
  html   one self-contained page with charts (no script, nothing loaded from elsewhere)
  junit  JUnit XML, a test case per benchmark and scenario, for CI

DIR is a result tree holding report.json (gpuperf compare writes it after a
plan), or a report.json file. A tree without report.json (a plan run with
gpuperf run, or interrupted before comparing) is compared afresh with the
default settings and no gate; gpuperf compare TREE takes the comparison's
flags.

The HTML charts read the runs' latency percentiles and telemetry.csv from the
folders the comparison names; when the tree has moved they are looked for in
DIR, and what cannot be read is said so on the page.

report renders; it does not gate: it exits 0 once the report is written, 2 on
bad input or usage.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("report takes one folder (a result tree with report.json), got %d arguments", len(args))
			}
			return nil
		},
	}
	cmd.Flags().String("format", string(report.Table), "report format: "+report.FormatNames())
	cmd.Flags().String("output", "", "write the report to this file instead of standard output")
	cmd.Flags().Bool("wide", false, "table: print the full table (every column on one row, about 220 columns) instead of the compact one that fits 100")
	v := bindViper(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := report.ParseFormat(v.GetString("format"))
		if err != nil {
			return usageErrorf("--format: %v", err)
		}
		c, folders, err := loadComparison(cmd, args[0])
		if err != nil {
			var ie *results.InputError
			if errors.As(err, &ie) {
				return &exitError{code: exitUsage, err: err}
			}
			return err
		}
		var b bytes.Buffer
		width := 0
		if v.GetString("output") == "" {
			width = tableWidth(cmd.OutOrStdout())
		}
		if err := report.Write(&b, f, c, report.Options{Runs: folders, Wide: v.GetBool("wide"), Width: width}); err != nil {
			return err
		}
		if out := v.GetString("output"); out != "" {
			if err := atomicfile.Write(filepath.Dir(out), filepath.Base(out), b.Bytes()); err != nil {
				return usageErrorf("--output: %v", err)
			}
			return nil
		}
		_, err = cmd.OutOrStdout().Write(b.Bytes())
		return err
	}
	return cmd
}

// loadComparison reads the comparison stored at path (a tree's report.json
// or the file itself), or compares a tree without one afresh. The folders
// tell the HTML charts where each side's runs are now.
func loadComparison(cmd *cobra.Command, path string) (*results.Comparison, report.Folders, error) {
	var folders report.Folders
	st, err := os.Stat(path)
	if err != nil {
		return nil, folders, &results.InputError{File: path, Err: err}
	}
	if !st.IsDir() {
		c, err := report.Read(path)
		if err != nil {
			return nil, folders, err
		}
		return c, relocate(c, filepath.Dir(path)), nil
	}
	rp := filepath.Join(path, report.ReportFile)
	if _, err := os.Stat(rp); err == nil {
		c, err := report.Read(rp)
		if err != nil {
			return nil, folders, err
		}
		return c, relocate(c, path), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, folders, &results.InputError{File: rp, Err: err}
	}
	if _, err := os.Stat(filepath.Join(path, "run.json")); err != nil {
		return nil, folders, &results.InputError{File: path, Err: fmt.Errorf("no %s here and not a gpuperf result tree (no run.json): gpuperf report renders a stored comparison; run gpuperf compare first", report.ReportFile)}
	}
	c, err := compareOneTree(cmd.Context(), path, results.Options{Version: gpuperfVersion()})
	if err != nil {
		return nil, folders, err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "gpuperf: no %s in %s: compared its runs afresh with the default settings and no gate (gpuperf compare %s takes the comparison's flags)\n",
		report.ReportFile, path, path)
	return c, folders, nil
}

// relocate points a side at dir when the side is the gpuperf tree dir
// holds (same run id; a stored baseline's runs are imported into it too)
// but was recorded under another path: the tree moved, or the path was
// relative to another working directory.
func relocate(c *results.Comparison, dir string) report.Folders {
	var f report.Folders
	id, err := readRunID(dir)
	if err != nil {
		return f
	}
	for _, s := range []results.Side{c.Baseline, c.Candidate} {
		if s.Format != results.FormatGpuperf || s.RunID != id || sameDir(s.Path, dir) {
			continue
		}
		if s.Role == results.RoleBaseline {
			f.Baseline = dir
		} else {
			f.Candidate = dir
		}
	}
	return f
}

func readRunID(dir string) (string, error) {
	t, err := results.Open(dir)
	if err != nil {
		return "", err
	}
	m, err := t.ReadManifest()
	if err != nil {
		return "", err
	}
	return m.RunID, nil
}

func sameDir(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// addReportFlags adds compare's report flags: the format printed to
// standard output, and a folder to write report.{json,md,html} into. They
// are checked before any run starts.
func addReportFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("format", string(report.Table), "format printed to standard output: "+report.FormatNames())
	f.String("report-dir", "", "also write report.json, report.md and report.html into this folder (a plan writes them into its result tree regardless)")
	f.Bool("wide", false, "print the full table (every column on one row, about 220 columns) instead of the compact one that fits 100")
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		_, err := report.ParseFormat(bindViper(cmd).GetString("format"))
		if err != nil {
			return usageErrorf("--format: %v", err)
		}
		return nil
	}
}

// writeReports prints c in --format and writes report.{json,md,html} into
// treeDir (a plan's result tree; "" for none) and into --report-dir. A
// report file that cannot be written is a warning: the comparison and its
// exit code still stand.
func writeReports(cmd *cobra.Command, v *viper.Viper, c *results.Comparison, treeDir string) error {
	f, err := report.ParseFormat(v.GetString("format"))
	if err != nil {
		return usageErrorf("--format: %v", err)
	}
	if err := report.Write(cmd.OutOrStdout(), f, c, report.Options{Wide: v.GetBool("wide"), Width: tableWidth(cmd.OutOrStdout())}); err != nil {
		return err
	}
	for _, dir := range []string{treeDir, v.GetString("report-dir")} {
		if dir == "" {
			continue
		}
		paths, err := report.WriteFiles(dir, c, report.Options{})
		if err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "gpuperf: warning: reports: %v\n", err)
		}
		if dir != treeDir && len(paths) > 0 {
			fmt.Fprintf(cmd.ErrOrStderr(), "gpuperf: reports in %s\n", dir)
		}
	}
	return nil
}
