package history

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// migrations are the numbered schema changes, NNNN_name.sql, applied in
// order, each once, in one transaction per store upgrade. A migration is
// never edited once released: a change is a new file.
//
//go:embed migrations/*.sql
var migrations embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: want NNNN_name.sql", e.Name())
		}
		b, err := migrations.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: versions must run 1, 2, 3, ... without gaps", m.name)
		}
	}
	return out, nil
}

// SchemaVersion is the schema this gpuperf writes: its newest migration.
func SchemaVersion() int {
	ms, err := loadMigrations()
	if err != nil {
		panic(err) // the embedded files are checked by the tests
	}
	return len(ms)
}

// statements splits a migration into statements: comments dropped, split
// at the semicolons that end lines. {{id}} becomes the engine's key type.
func statements(src, idType string) []string {
	var b strings.Builder
	for line := range strings.SplitSeq(src, "\n") {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	var out []string
	for _, st := range strings.Split(b.String(), ";\n") {
		if st = strings.TrimSpace(st); st != "" {
			out = append(out, strings.ReplaceAll(strings.TrimSuffix(st, ";"), "{{id}}", idType))
		}
	}
	return out
}

const schemaTable = `CREATE TABLE IF NOT EXISTS gpuperf_schema (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at BIGINT NOT NULL
)`

// migrate brings the store's schema up to this gpuperf's: nothing when it
// is current (the common case, read without a write lock), the missing
// migrations under the engine's lock otherwise, and an ErrUnusable when
// the store is newer than this gpuperf.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	want := len(ms)
	if v, err := s.schemaVersion(ctx, s.db); err == nil {
		if err := s.checkVersion(v, want); err != nil {
			return fmt.Errorf("history store %s: %w", s.where, err)
		}
		if v == want {
			return nil
		}
	} else if c := s.eng.classify(err); errors.Is(c, ErrUnusable) || errors.Is(c, ErrUnavailable) {
		return fmt.Errorf("history store %s: %w", s.where, c)
	}
	err = s.retry(ctx, func(tx *sql.Tx) error {
		if err := s.eng.lockSchema(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, schemaTable); err != nil {
			return err
		}
		have, err := s.schemaVersion(ctx, tx)
		if err != nil {
			return err
		}
		if err := s.checkVersion(have, want); err != nil {
			return err
		}
		for _, m := range ms[have:] {
			for _, st := range statements(m.sql, s.eng.idType()) {
				if _, err := tx.ExecContext(ctx, st); err != nil {
					return unusablef("migration %s: %v (is this database used by something other than gpuperf?)", m.name, err)
				}
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO gpuperf_schema (version, name, applied_at) VALUES ($1, $2, $3)",
				m.version, m.name, micros(time.Now())); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrUnusable) {
			return fmt.Errorf("history store %s: %w", s.where, err)
		}
		return s.wrap("upgrading the schema", err)
	}
	return nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) schemaVersion(ctx context.Context, q querier) (int, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT MAX(version) FROM gpuperf_schema").Scan(&v); err != nil {
		return 0, err
	}
	return int(v.Int64), nil
}

func (s *Store) checkVersion(have, want int) error {
	if have > want {
		return unusablef("its schema is version %d, newer than this gpuperf's %d; a newer gpuperf wrote it: upgrade gpuperf, or name another store with --store", have, want)
	}
	return nil
}
