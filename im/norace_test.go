//go:build !race

package im

const raceEnabled = false
