package snapshot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// List returns the seqs of the snapshots in dir, ascending. Temporary files
// and other names are ignored; the files are not opened.
func List(dir string) ([]uint64, error) {
	seqs, _, err := scan(dir)
	return seqs, err
}

// scan returns the snapshot seqs in dir, ascending, and the seqs of its
// temporary files.
func scan(dir string) (seqs, tmps []uint64, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("snapshot: %w", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if seq, ok := ParseFileName(e.Name()); ok {
			seqs = append(seqs, seq)
		} else if name, ok := strings.CutSuffix(e.Name(), tmpSuffix); ok {
			if seq, ok := ParseFileName(name); ok {
				tmps = append(tmps, seq)
			}
		}
	}
	slices.Sort(seqs)
	return seqs, tmps, nil
}

// Newest returns the path and header of the newest snapshot in dir that
// verifies (Verify reads each candidate whole). A newer snapshot that does
// not verify is passed over, and its error, wrapping ErrCorrupt and naming
// the file, is returned in skipped for the caller to log. With no snapshot
// that verifies, err is ErrNoSnapshot. An error that is not corruption (a
// read error, say) is returned at once rather than falling back to older
// data.
func Newest(dir string) (path string, h Header, skipped []error, err error) {
	seqs, err := List(dir)
	if err != nil {
		return "", Header{}, nil, err
	}
	for _, seq := range slices.Backward(seqs) {
		path := filepath.Join(dir, FileName(seq))
		h, _, err := Verify(path)
		switch {
		case err == nil:
			return path, h, skipped, nil
		case errors.Is(err, ErrCorrupt):
			skipped = append(skipped, err)
		case errors.Is(err, os.ErrNotExist):
			// Pruned since List: not a snapshot any more.
		default:
			return "", Header{}, skipped, err
		}
	}
	return "", Header{}, skipped, ErrNoSnapshot
}

// Prune removes all but the newest keep snapshots in dir, by seq, without
// reading them: keep at least 2 to leave Newest an older snapshot to fall
// back on. It also removes temporary files no newer than the newest
// snapshot: a Writer that crashed left them, while a temporary file of a
// newer seq may belong to a Writer still at work. keep below 1 is refused,
// since it would remove every snapshot.
func Prune(dir string, keep int) error {
	if keep < 1 {
		return fmt.Errorf("snapshot: Prune keeping %d snapshots", keep)
	}
	seqs, tmps, err := scan(dir)
	if err != nil {
		return err
	}
	var errs []error
	remove := func(name string) {
		// Removals are not fsynced: a removal undone by a crash is redone
		// by the next Prune.
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("snapshot: %w", err))
		}
	}
	for _, seq := range seqs[:max(len(seqs)-keep, 0)] {
		remove(FileName(seq))
	}
	for _, seq := range tmps {
		if len(seqs) > 0 && seq <= seqs[len(seqs)-1] {
			remove(FileName(seq) + tmpSuffix)
		}
	}
	return errors.Join(errs...)
}
