package eventlog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a writer goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// openLog opens a log that is closed when the test ends.
func openLog(t testing.TB, cfg Config) *Log {
	t.Helper()
	l, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// appendWait appends rec and waits for it, failing the test on error.
func appendWait(t testing.TB, l *Log, rec string) uint64 {
	t.Helper()
	seq, err := l.Append([]byte(rec))
	if err != nil {
		t.Fatalf("Append(%q): %v", rec, err)
	}
	if err := l.Wait(context.Background(), seq); err != nil {
		t.Fatalf("Wait(%d): %v", seq, err)
	}
	return seq
}

// replayAll replays dir from segment from and returns the records as strings.
func replayAll(t testing.TB, dir string, from uint64) ([]string, ReplayInfo, error) {
	t.Helper()
	var recs []string
	info, err := Replay(dir, from, func(rec []byte) error {
		recs = append(recs, string(rec))
		return nil
	})
	return recs, info, err
}

// mustReplay is replayAll for a log that must be intact.
func mustReplay(t testing.TB, dir string, from uint64) ([]string, ReplayInfo) {
	t.Helper()
	recs, info, err := replayAll(t, dir, from)
	if err != nil {
		t.Fatalf("Replay(%d): %v", from, err)
	}
	return recs, info
}

// copyDir copies the segment files of src into a new directory, as a crash
// at this moment would leave them (minus what the OS has not written).
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// dataEnd returns where the records of a segment end: its size without the
// zeros SyncAlways preallocates (the records of these tests end in non-zero
// bytes).
func dataEnd(t testing.TB, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	end := len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	return int64(end)
}
