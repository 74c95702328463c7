// Package backend holds what gpuperf's systems under test share: the
// Completer they report to, the adapter that turns a synchronous model call
// into an asynchronous inference.Backend (NewAsync), and the KEY=VALUE
// option parsing every backend uses.
//
// The backends themselves live in subpackages: null (completes inline, the
// load generator's own ceiling), sim (a simulated accelerator whose
// queueing behaviour is known exactly) and cpu (a real MLP computed in pure
// Go). Package builtin maps their names to constructors, and backendtest
// drives any of them without the engine.
package backend
