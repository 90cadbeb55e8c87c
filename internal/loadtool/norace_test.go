//go:build !race

package loadtool

const raceEnabled = false
