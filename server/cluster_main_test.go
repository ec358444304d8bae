package server_test

import (
	"testing"

	"github.com/distkv/distkv/server/servertest"
)

// TestMain checks, once every test of the package ran, that no goroutine was left behind
// (servers, serf, memberlist, peer streams, client connections).
func TestMain(m *testing.M) { servertest.Main(m) }
