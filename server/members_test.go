package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMembersFile(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := readMembers(dir); ok || err != nil {
		t.Fatalf("no file: ok %v, err %v; want neither", ok, err)
	}
	m := memberMemo{Peak: 5, Names: []string{"a b", "n1", "n~2", `q"uote`}}
	if err := writeFileSync(dir, membersFile, m.encode()); err != nil {
		t.Fatal(err)
	}
	got, ok, err := readMembers(dir)
	if !ok || err != nil || !got.equal(m) {
		t.Fatalf("read back %+v, %v, %v; want %+v", got, ok, err, m)
	}
	b, _ := os.ReadFile(filepath.Join(dir, membersFile))
	if want := "peak 5\nmember \"a b\"\nmember \"n1\"\n"; !strings.HasPrefix(string(b), want) {
		t.Errorf("file:\n%s\nwant it to start with\n%s", b, want)
	}
	for _, bad := range []string{"", "peak 0\n", "peak x\n", "member \"a\"\n", "peak 3\nmember a\n", "peak 3\nnoise\n"} {
		if err := os.WriteFile(filepath.Join(dir, membersFile), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := readMembers(dir); err == nil || !strings.Contains(err.Error(), "remove it") {
			t.Errorf("file %q: err %v, want an error saying what to do", bad, err)
		}
	}
}
