// Package storetest gives tests a fresh, empty run-history store on each
// engine the history supports: a SQLite file in the test's temporary
// folder, and a schema of its own in the PostgreSQL database that
// GPUPERF_TEST_POSTGRES names (.ci/run starts one and sets it).
//
// Without GPUPERF_TEST_POSTGRES the PostgreSQL half skips, saying so,
// except under CI=true, where a missing database fails the test: CI must
// not pass by testing one engine.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// PostgresEnv names the variable holding the test database's URL.
const PostgresEnv = "GPUPERF_TEST_POSTGRES"

// Engine is one store to test against.
type Engine struct {
	Name string
	// Addr opens a fresh, empty store for t: what --store takes.
	Addr func(t *testing.T) string
}

// Engines returns SQLite and PostgreSQL.
func Engines() []Engine {
	return []Engine{
		{Name: "sqlite", Addr: func(t *testing.T) string {
			return filepath.Join(t.TempDir(), "history.db")
		}},
		{Name: "postgres", Addr: Postgres},
	}
}

// Each runs f once per engine as a subtest.
func Each(t *testing.T, f func(t *testing.T, addr func(t *testing.T) string)) {
	for _, e := range Engines() {
		t.Run(e.Name, func(t *testing.T) { f(t, e.Addr) })
	}
}

// Postgres returns the URL of a schema created for t alone in the test
// database, dropped when t ends; it skips (fails under CI=true) without a
// test database.
func Postgres(t *testing.T) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s is not set: CI must test the PostgreSQL store (.ci/run starts PostgreSQL and sets it)", PostgresEnv)
		}
		t.Skipf("PostgreSQL store not tested: set %s to a database URL (e.g. postgres://gpuperf:gpuperf@127.0.0.1:5432/gpuperf_test) to test it", PostgresEnv)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "gpuperf_test_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		t.Fatalf("%s: create schema: %v", PostgresEnv, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		db.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
