package inference

import "context"

// Sample is one unit of inference handed to a backend: LoadGen's QuerySample.
type Sample struct {
	// ID identifies the sample within a run; hand it back in Response.ID.
	ID uint64
	// Index is the sample's position in the data set (LoadGen's QSL index).
	Index uint32
}

// Response reports one finished sample: LoadGen's QuerySampleResponse.
type Response struct {
	ID uint64
	// Tokens is the number of output tokens, for token-latency runs.
	Tokens int64
	// Err marks a failed inference. The sample still counts as completed, so
	// a broken backend shows up as errors rather than as a hang.
	Err error
}

// Backend is the system under test, asynchronous as LoadGen's SUT is.
//
// IssueQuery must return without waiting for inference: a backend whose
// workers are busy queues the samples, and that wait counts as its latency.
// The samples slice belongs to the caller and is reused after IssueQuery
// returns, so a backend copies what it keeps. Completions are reported to
// the Recorder given to Start, from any goroutine.
type Backend interface {
	// Name is the SUT name written to the logs.
	Name() string
	// Start prepares the backend for one run. Completions go to rec until
	// Stop returns.
	Start(ctx context.Context, rec *Recorder) error
	// IssueQuery hands one query's samples to the backend.
	IssueQuery(samples []Sample)
	// FlushQueries is called once after the last IssueQuery of a phase.
	FlushQueries()
	// Stop ends the run and waits for the backend's goroutines.
	Stop() error
}

// Describer is implemented by backends in front of a serving stack that can
// name it (server version, model configuration): the agent records it in
// the host fingerprint, so the fairness check sees it.
type Describer interface {
	Describe(ctx context.Context) (map[string]string, error)
}

// Reseeder is implemented by backends that draw random numbers of their
// own: sim's service times, cpu's inputs, kserve's random inputs, openai's
// synthetic prompts. The agent calls Reseed once before a run with the
// run's seed set (see DeriveSeed): set 0 keeps the configured seed, set k
// draws from DeriveSeed(configured, k), so repetition k of a comparison
// draws the same numbers on both sides when both are configured alike.
// It returns the seed the run draws from.
type Reseeder interface {
	Reseed(set int) uint64
}

// OptionReporter is implemented by backends that can state every option
// they run with, defaults filled in: the fairness check compares these
// effective values, so an option left at its default on one side and set
// on the other is a difference only when the values differ.
type OptionReporter interface {
	EffectiveOptions() map[string]string
}

// Annotator is implemented by backends that learn, during a run, facts the
// comparison must see (where token counts came from, say). Run records
// them in Result.BackendFacts after Stop.
type Annotator interface {
	Annotations() map[string]string
}
