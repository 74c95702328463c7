// Package history keeps gpuperf's run history in a database: every run,
// comparison and bench with its metadata, each timed run's metric, and each
// comparison's retained performance, interval, verdict and gate outcome.
// The result tree stays the source of truth for logs; the history holds
// what queries need and points to the tree.
//
// Two engines sit behind Store, with one set of numbered migrations:
// SQLite (modernc.org/sqlite, pure Go; the default, a file under the
// user's data directory, in WAL mode so several gpuperf processes can
// record at once) and PostgreSQL (github.com/jackc/pgx/v5), for a team.
package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Errors Open and the queries wrap, so callers can choose an exit code.
var (
	// ErrUnavailable: the store cannot be reached now (a PostgreSQL server
	// down or refusing the connection, a folder that cannot be written).
	// Trying again later may work; nothing about the store is wrong.
	ErrUnavailable = errors.New("history store unavailable")
	// ErrUnusable: the store is there but gpuperf must not use it: a
	// corrupt file, a schema newer than this gpuperf knows, a database that
	// is not a gpuperf history, or a malformed store address.
	ErrUnusable = errors.New("history store unusable")
	// ErrNotFound: no run, tag or series matches.
	ErrNotFound = errors.New("not found")
)

// kindError is an error of one of the kinds above: errors.Is finds the
// kind, the message is the error's own.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

func unusablef(format string, args ...any) error {
	return &kindError{kind: ErrUnusable, err: fmt.Errorf(format, args...)}
}

func unavailablef(format string, args ...any) error {
	return &kindError{kind: ErrUnavailable, err: fmt.Errorf(format, args...)}
}

// Off is the store address that records nothing.
const Off = "off"

// Store is an open history.
type Store struct {
	db  *sql.DB
	eng engine
	// where names the store in messages: a file path, or the PostgreSQL
	// URL without its password.
	where string
}

// Where names the store for messages.
func (s *Store) Where() string { return s.where }

// Engine is "sqlite" or "postgres".
func (s *Store) Engine() string { return s.eng.name() }

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// DefaultPath is the SQLite file used when no store is named:
// $XDG_DATA_HOME/gpuperf/history.db, with XDG_DATA_HOME defaulting to
// ~/.local/share.
func DefaultPath() (string, error) {
	dir := os.Getenv("XDG_DATA_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", unusablef("no data directory for the history: set XDG_DATA_HOME or HOME, or name a store with --store: %v", err)
		}
		dir = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(dir, "gpuperf", "history.db"), nil
}

// IsPostgres reports whether addr names a PostgreSQL store.
func IsPostgres(addr string) bool {
	return strings.HasPrefix(addr, "postgres://") || strings.HasPrefix(addr, "postgresql://")
}

// Open opens the store at addr, creating it and bringing its schema up to
// date as needed: "" is the default SQLite file, a postgres:// or
// postgresql:// URL a PostgreSQL database, anything else (optionally
// prefixed "sqlite:") a SQLite file. "off" is refused: the caller records
// nothing instead.
func Open(ctx context.Context, addr string) (*Store, error) {
	var eng engine
	switch {
	case addr == Off:
		return nil, unusablef("the history store is off")
	case IsPostgres(addr):
		eng = postgresEngine{}
	default:
		path := strings.TrimPrefix(addr, "sqlite:")
		if path == "" {
			var err error
			if path, err = DefaultPath(); err != nil {
				return nil, err
			}
		}
		eng = sqliteEngine{path: path}
	}
	db, where, err := eng.open(ctx, addr)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, eng: eng, where: where}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// retry runs f in a transaction, again while the engine calls the failure
// transient (SQLite's busy database, PostgreSQL's serialization
// failures), for up to a minute with jittered backoff.
func (s *Store) retry(ctx context.Context, f func(tx *sql.Tx) error) error {
	deadline := time.Now().Add(time.Minute)
	wait := 5 * time.Millisecond
	for {
		err := s.inTx(ctx, f)
		if err == nil || !s.eng.transient(err) || time.Now().After(deadline) {
			return err
		}
		d := wait/2 + rand.N(wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

func (s *Store) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// wrap classifies a database error and names the store and what failed.
func (s *Store) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("history store %s: %s: %w", s.where, what, s.eng.classify(err))
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}
