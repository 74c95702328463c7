package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Tag is a name for a run that serves as a baseline.
type Tag struct {
	Name string `json:"name"`
	Run  int64  `json:"run"`
	// Side is the role of the tagged run's hosts that stand in as the
	// baseline: candidate (the measured host, the default) or baseline.
	Side      string    `json:"side"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	// Tree is the tagged run's result tree.
	Tree string `json:"tree"`
}

// ErrTagExists: the name already tags another run.
var ErrTagExists = errors.New("tag exists")

// SetTag names run id's side name. An existing tag moves only with force.
func (s *Store) SetTag(ctx context.Context, name string, id int64, side, by string, force bool) error {
	if _, err := s.Get(ctx, id); err != nil {
		return err
	}
	err := s.retry(ctx, func(tx *sql.Tx) error {
		var prev int64
		err := tx.QueryRowContext(ctx, "SELECT run FROM tags WHERE name = $1", name).Scan(&prev)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, "INSERT INTO tags (name, run, side, created_at, created_by) VALUES ($1, $2, $3, $4, $5)",
				name, id, side, micros(time.Now()), by)
			return err
		case err != nil:
			return err
		case prev != id && !force:
			return fmt.Errorf("%w: tag %q names run %d; --force moves it to run %d", ErrTagExists, name, prev, id)
		}
		_, err = tx.ExecContext(ctx, "UPDATE tags SET run = $1, side = $2, created_at = $3, created_by = $4 WHERE name = $5",
			id, side, micros(time.Now()), by, name)
		return err
	})
	if errors.Is(err, ErrTagExists) {
		return err
	}
	return s.wrap("tagging", err)
}

// DeleteTag removes a tag.
func (s *Store) DeleteTag(ctx context.Context, name string) error {
	var n int64
	err := s.retry(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM tags WHERE name = $1", name)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return s.wrap("removing a tag", err)
	}
	if n == 0 {
		return fmt.Errorf("tag %q: %w in the history (%s)", name, ErrNotFound, s.where)
	}
	return nil
}

// Tags lists the tags by name.
func (s *Store) Tags(ctx context.Context) ([]Tag, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT t.name, t.run, t.side, t.created_at, t.created_by, r.tree FROM tags t JOIN runs r ON r.id = t.run ORDER BY t.name")
	if err != nil {
		return nil, s.wrap("listing tags", err)
	}
	defer rows.Close()
	var out []Tag
	for rows.Next() {
		var t Tag
		var at int64
		if err := rows.Scan(&t.Name, &t.Run, &t.Side, &at, &t.CreatedBy, &t.Tree); err != nil {
			return nil, s.wrap("listing tags", err)
		}
		t.CreatedAt = fromMicros(at)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("listing tags", err)
	}
	return out, nil
}

// LookupTag returns a tag.
func (s *Store) LookupTag(ctx context.Context, name string) (Tag, error) {
	var t Tag
	var at int64
	err := s.db.QueryRowContext(ctx, "SELECT t.name, t.run, t.side, t.created_at, t.created_by, r.tree FROM tags t JOIN runs r ON r.id = t.run WHERE t.name = $1", name).
		Scan(&t.Name, &t.Run, &t.Side, &at, &t.CreatedBy, &t.Tree)
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("tag %q: %w in the history (%s); gpuperf baseline list shows the tags", name, ErrNotFound, s.where)
	}
	if err != nil {
		return t, s.wrap("reading a tag", err)
	}
	t.CreatedAt = fromMicros(at)
	return t, nil
}
