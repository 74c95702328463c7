package backend

import "errors"

// ErrUnavailable is wrapped by the error of a backend that cannot run on
// this machine at all (its driver is not installed, there is no device):
// a runtime failure (exit 1), not a mistake in the options (exit 2).
var ErrUnavailable = errors.New("backend unavailable on this machine")

// Unavailable marks err as ErrUnavailable, keeping its text.
func Unavailable(err error) error { return unavailableError{err} }

type unavailableError struct{ err error }

func (e unavailableError) Error() string   { return e.err.Error() }
func (e unavailableError) Unwrap() []error { return []error{e.err, ErrUnavailable} }
