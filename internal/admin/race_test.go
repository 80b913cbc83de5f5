//go:build race

package admin

// raceEnabled reports whether the tests run with the race detector.
const raceEnabled = true
