//go:build race

package changepoint

// raceEnabled: the race detector slows the study's arithmetic about forty
// times, so it draws fewer seeds under it.
const raceEnabled = true
