//go:build !unix

package acmetest

// lockFile does nothing where flock(2) is missing: concurrent builds then
// both run, and the atomic rename keeps the result whole.
func lockFile(string) (func(), error) { return func() {}, nil }
