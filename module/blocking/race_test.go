//go:build race

package blocking

// raceEnabled: allocation counts are not meaningful under the race
// detector.
const raceEnabled = true
