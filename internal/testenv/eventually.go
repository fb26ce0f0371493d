package testenv

import (
	"testing"
	"time"
)

// pollInterval is how often Eventually checks again.
const pollInterval = 100 * time.Millisecond

// Eventually calls check until it returns nil, and fails the test with the
// last error when timeout has passed. Tests poll with it instead of sleeping.
func Eventually(t testing.TB, what string, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %s: %v", what, timeout, err)
		}
		time.Sleep(pollInterval)
	}
}
