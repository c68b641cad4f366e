//go:build race

package secretstream

// raceEnabled: the race detector makes sync.Pool drop entries at random.
const raceEnabled = true
