package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// agentFlagOf maps GPUPERF_TLS_CLIENT_CA to tls-client-ca.
func agentFlagOf(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "GPUPERF_")), "_", "-")
}

// TestSystemdSettingsAreAgentFlags: every GPUPERF_ setting the unit and its
// env file give, commented-out suggestions included, is a flag of gpuperf
// agent, so none is silently ignored.
func TestSystemdSettingsAreAgentFlags(t *testing.T) {
	flags := newAgentCommand().Flags()
	var keys []string
	envFile, err := os.ReadFile(filepath.Join("..", "..", "deploy", "systemd", "agent.env"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(envFile), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "#")
		if k, _, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "GPUPERF_") {
			keys = append(keys, k)
		}
	}
	unit, err := os.ReadFile(filepath.Join("..", "..", "deploy", "systemd", "gpuperf-agent.service"))
	if err != nil {
		t.Fatal(err)
	}
	execStart := ""
	for line := range strings.SplitSeq(string(unit), "\n") {
		if rest, ok := strings.CutPrefix(line, "Environment="); ok {
			for kv := range strings.FieldsSeq(rest) {
				k, _, _ := strings.Cut(kv, "=")
				keys = append(keys, k)
			}
		}
		if rest, ok := strings.CutPrefix(line, "ExecStart="); ok {
			execStart = rest
		}
	}
	if len(keys) < 8 {
		t.Fatalf("found only %v", keys)
	}
	for _, k := range keys {
		if flags.Lookup(agentFlagOf(k)) == nil {
			t.Errorf("%s: gpuperf agent has no flag --%s", k, agentFlagOf(k))
		}
	}
	if f := strings.Fields(execStart); len(f) < 2 || f[0] != "/usr/local/bin/gpuperf" || f[1] != "agent" {
		t.Errorf("ExecStart=%s, want /usr/local/bin/gpuperf agent ...", execStart)
	}
	for _, want := range []string{"ProtectSystem=strict", "NoNewPrivileges=yes", "User=gpuperf", "EnvironmentFile=/etc/gpuperf/agent.env", "CapabilityBoundingSet=\n"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
}

// dockerStage is one FROM ... of a Dockerfile, its instructions with
// continuation lines joined.
type dockerStage struct {
	from  string
	name  string
	lines []string
}

func readDockerfile(t *testing.T, path string) []dockerStage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages []dockerStage
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		if rest, ok := strings.CutPrefix(line, "FROM "); ok {
			from, name, _ := strings.Cut(rest, " AS ")
			stages = append(stages, dockerStage{from: strings.TrimSpace(from), name: strings.TrimSpace(name)})
			return
		}
		if len(stages) > 0 {
			stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, line)
		}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	return stages
}

// TestDockerfile: multi-stage; the build stage runs the release script CI
// runs, with the version passed in; the final stage is glibc-based,
// non-root, copies the one binary, and is labelled with the same version.
func TestDockerfile(t *testing.T) {
	stages := readDockerfile(t, filepath.Join("..", "..", "deploy", "Dockerfile"))
	if len(stages) != 2 {
		t.Fatalf("%d stages, want build and final", len(stages))
	}
	build, final := stages[0], stages[1]
	if build.name != "build" || !strings.HasPrefix(build.from, "golang:") || !strings.Contains(build.from, "bookworm") {
		t.Errorf("build stage FROM %s AS %s, want golang on Debian (glibc)", build.from, build.name)
	}
	runsScript := false
	for _, l := range build.lines {
		if strings.HasPrefix(l, "RUN ") && strings.Contains(l, `VERSION="${VERSION}"`) && strings.Contains(l, "./scripts/build-release.sh") {
			runsScript = true
		}
	}
	if !runsScript {
		t.Errorf("the build stage does not run VERSION=\"${VERSION}\" ./scripts/build-release.sh: %q", build.lines)
	}
	if !regexp.MustCompile(`^gcr\.io/distroless/base-debian\d+(:nonroot)?$`).MatchString(final.from) {
		t.Errorf("final stage FROM %s, want a glibc distroless base", final.from)
	}
	var copies, users, labels []string
	for _, l := range final.lines {
		switch strings.Fields(l)[0] {
		case "COPY", "ADD":
			copies = append(copies, l)
		case "USER":
			users = append(users, l)
		case "LABEL":
			labels = append(labels, l)
		}
	}
	if len(copies) != 1 || copies[0] != "COPY --from=build /out/gpuperf /usr/local/bin/gpuperf" {
		t.Errorf("the final stage copies %q, want the binary alone", copies)
	}
	if len(users) != 1 || !regexp.MustCompile(`^USER [1-9]\d*:[1-9]\d*$`).MatchString(users[0]) {
		t.Errorf("USER lines %q, want one numeric non-root user", users)
	}
	if len(labels) != 1 || !strings.Contains(labels[0], `org.opencontainers.image.version="${VERSION}"`) {
		t.Errorf("LABEL %q does not carry the version", labels)
	}
	// The script stamps what it is given, and checks the binary says so.
	script, err := os.ReadFile(filepath.Join("..", "..", "scripts", "build-release.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`-X main.version=$version`, `"gpuperf $version"`, "CGO_ENABLED=1"} {
		if !strings.Contains(string(script), want) {
			t.Errorf("build-release.sh lacks %s", want)
		}
	}
}
