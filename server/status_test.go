package server

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
)

// TestShowValueCut: a long value is cut to 200 bytes on a character boundary.
func TestShowValueCut(t *testing.T) {
	raw, err := msgpack.Marshal("x" + strings.Repeat("é", 150))
	if err != nil {
		t.Fatal(err)
	}
	got := showValue(raw)
	if !utf8.ValidString(got) || !strings.HasSuffix(got, "é…") || len(got) > 200+len("…") {
		t.Errorf("showValue cut to %q", got)
	}
}
