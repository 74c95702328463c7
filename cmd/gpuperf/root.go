package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func gpuperfVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "devel-" + s.Value[:12]
			}
		}
	}
	return "devel"
}

func newRootCommand() *cobra.Command {
	var logLevel string
	logs := &logSink{w: os.Stderr}
	root := &cobra.Command{
		Use:           "gpuperf",
		Short:         "Measure how much GPU inference performance a virtualized host keeps",
		Long:          "gpuperf runs MLPerf-style inference scenarios and reports retained performance with confidence intervals.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			// Structured records only when asked for (the flag, or
			// GPUPERF_LOG_LEVEL); otherwise warnings read as sentences,
			// above any progress display.
			structured := cmd.Flags().Changed("log-level")
			if env := os.Getenv("GPUPERF_LOG_LEVEL"); env != "" && !structured {
				logLevel, structured = env, true
			}
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return usageErrorf("--log-level: %v", err)
			}
			slog.SetDefault(newLogger(logs, lvl, structured))
			cmd.SetContext(context.WithValue(cmd.Context(), logSinkKey{}, logs))
			return nil
		},
	}
	root.PersistentFlags().StringVar(&logLevel, "log-level", "warn", "print structured log records (slog text) at this level: debug, info, warn or error; without it, warnings and errors are printed as sentences, each distinct one once")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErrorf("%v", err) })
	root.AddCommand(newVersionCommand(), newBenchCommand(), newCompareCommand(), newRunCommand(), newAgentCommand(), newDescribeCommand(), newTelemetryCommand(), newReportCommand(), newHealthCommand(),
		newHistoryCommand(), newTrendCommand(), newImportCommand(), newBaselineCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print gpuperf's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "gpuperf %s\n", gpuperfVersion())
			return err
		},
	}
}

// bindViper makes every flag of cmd also settable as GPUPERF_<FLAG> in the
// environment (dashes become underscores); flags win over the environment.
func bindViper(cmd *cobra.Command) *viper.Viper {
	v := viper.New()
	v.SetEnvPrefix("GPUPERF")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		_ = v.BindPFlag(f.Name, f)
	})
	return v
}
