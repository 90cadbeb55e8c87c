//go:build race

package im

// raceEnabled: the race detector slows the tests down many times.
const raceEnabled = true
