package servertest

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// leakWait is how long Main waits for goroutines to end after the tests: memberlist's and
// serf's loops notice a shutdown only at their next timer tick, which under -race on a busy
// 2-core machine can take a while; goleak's own retries give up after about half a second.
const leakWait = 20 * time.Second

// Main runs the package's tests, then fails the run if goroutines are left behind (only when
// the tests passed: a failed test may have left servers running on purpose). Use it as
//
//	func TestMain(m *testing.M) { servertest.Main(m) }
func Main(m *testing.M, opts ...goleak.Option) {
	code := m.Run()
	if code == 0 {
		if err := FindLeaks(leakWait, opts...); err != nil {
			fmt.Fprintf(os.Stderr, "servertest: goroutines leaked by the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// FindLeaks waits up to wait for every goroutine but the current ones (and those opts
// ignore) to end, and returns goleak's report of those still running.
func FindLeaks(wait time.Duration, opts ...goleak.Option) error {
	deadline := time.Now().Add(wait)
	for {
		err := goleak.Find(opts...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
