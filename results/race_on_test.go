//go:build race

package results

// raceBuild: the race detector slows the simulations about tenfold, so
// the harness runs its smaller size.
const raceBuild = true
