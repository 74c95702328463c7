-- gpuperf's run history, schema 1.
--
-- One set of statements for SQLite and PostgreSQL: {{id}} is each
-- engine's auto-numbered primary key; times are Unix microseconds (UTC);
-- JSON is text; booleans are 0 and 1.

-- runs: one gpuperf invocation (run, compare, bench) or one imported
-- tree or published MLPerf system. The result tree stays the source of
-- truth; tree points to it.
CREATE TABLE runs (
  id {{id}},
  uid TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  command TEXT NOT NULL DEFAULT '',
  run_id TEXT NOT NULL DEFAULT '',
  tree TEXT NOT NULL DEFAULT '',
  plan_hash TEXT NOT NULL DEFAULT '',
  model TEXT NOT NULL DEFAULT '',
  backend TEXT NOT NULL DEFAULT '',
  profile TEXT NOT NULL DEFAULT '',
  mlperf_round TEXT NOT NULL DEFAULT '',
  submitter TEXT NOT NULL DEFAULT '',
  baseline_name TEXT NOT NULL DEFAULT '',
  candidate_name TEXT NOT NULL DEFAULT '',
  baseline_pool TEXT NOT NULL DEFAULT '',
  candidate_pool TEXT NOT NULL DEFAULT '',
  baseline_ref TEXT NOT NULL DEFAULT '',
  gpuperf_version TEXT NOT NULL DEFAULT '',
  started_at BIGINT NOT NULL,
  ended_at BIGINT NOT NULL DEFAULT 0,
  recorded_at BIGINT NOT NULL,
  recorded_by TEXT NOT NULL DEFAULT '',
  exit_code INTEGER NOT NULL DEFAULT 0,
  gate_mode TEXT NOT NULL DEFAULT '',
  gate_outcome TEXT NOT NULL DEFAULT '',
  min_retained_pct DOUBLE PRECISION,
  margin_pct DOUBLE PRECISION,
  gate_json TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runs_started ON runs (started_at);
CREATE INDEX runs_plan ON runs (plan_hash, candidate_name, started_at);
CREATE INDEX runs_tree ON runs (tree);

-- hosts: the machines of a run, with their fingerprints.
CREATE TABLE hosts (
  run BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  hostname TEXT NOT NULL DEFAULT '',
  virtualization TEXT NOT NULL DEFAULT '',
  accelerator TEXT NOT NULL DEFAULT '',
  gpus INTEGER NOT NULL DEFAULT 0,
  labels TEXT NOT NULL DEFAULT '',
  fingerprint_hash TEXT NOT NULL DEFAULT '',
  fingerprint TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (run, role, name)
);

-- metrics: every timed run's headline, per benchmark, scenario, side and
-- repetition.
CREATE TABLE metrics (
  run BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  benchmark TEXT NOT NULL,
  scenario TEXT NOT NULL,
  role TEXT NOT NULL,
  host TEXT NOT NULL DEFAULT '',
  repetition INTEGER NOT NULL,
  metric TEXT NOT NULL DEFAULT '',
  unit TEXT NOT NULL DEFAULT '',
  higher_is_better INTEGER NOT NULL DEFAULT 1,
  value DOUBLE PRECISION,
  valid INTEGER NOT NULL DEFAULT 0,
  counted INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL DEFAULT '',
  dir TEXT NOT NULL DEFAULT ''
);
CREATE INDEX metrics_run ON metrics (run);

-- comparisons: per benchmark and scenario, the retained performance with
-- its interval, verdict and gate outcome; detail is the comparison's own
-- JSON for the scenario, so fields added later are kept.
CREATE TABLE comparisons (
  run BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  benchmark TEXT NOT NULL,
  scenario TEXT NOT NULL,
  metric TEXT NOT NULL DEFAULT '',
  unit TEXT NOT NULL DEFAULT '',
  higher_is_better INTEGER NOT NULL DEFAULT 1,
  status TEXT NOT NULL DEFAULT '',
  pairing TEXT NOT NULL DEFAULT '',
  retained_pct DOUBLE PRECISION,
  low_pct DOUBLE PRECISION,
  high_pct DOUBLE PRECISION,
  confidence DOUBLE PRECISION,
  method TEXT NOT NULL DEFAULT '',
  baseline_value DOUBLE PRECISION,
  candidate_value DOUBLE PRECISION,
  baseline_n INTEGER NOT NULL DEFAULT 0,
  candidate_n INTEGER NOT NULL DEFAULT 0,
  verdict TEXT NOT NULL DEFAULT '',
  gate_outcome TEXT NOT NULL DEFAULT '',
  gate_exit INTEGER NOT NULL DEFAULT 0,
  detail TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (run, benchmark, scenario)
);

-- tags: names for runs that serve as baselines (--baseline tag:NAME).
CREATE TABLE tags (
  name TEXT PRIMARY KEY,
  run BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  side TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  created_by TEXT NOT NULL DEFAULT ''
);
