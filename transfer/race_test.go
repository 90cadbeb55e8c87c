//go:build race

package transfer

// raceEnabled: the race detector makes the large-export test ten times
// slower, so it runs on a tenth of the data.
const raceEnabled = true
