package server

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/distkv/distkv/clientproto"
	"github.com/distkv/distkv/clientproto/client"
	"github.com/distkv/distkv/node"
	"github.com/distkv/distkv/snapshot"
)

// TestSave: DistKV's save writes every entry, tombstones included, as a snapshot file at the
// given absolute path; it refuses a relative or existing path, and a non-admin with logins on.
func TestSave(t *testing.T) {
	srv, admin := authSetup(t, map[string]string{"#": "rwcdx"})
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	for _, k := range []string{"a", "b", "c"} {
		if _, err := admin.SetValue(ctx, node.StringPath("s", k), k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.Delete(ctx, node.StringPath("s", "b")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "saved.dks")
	n, err := admin.Save(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	h, count, err := snapshot.Verify(file)
	if err != nil {
		t.Fatal(err)
	}
	r, err := snapshot.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	paths := map[string]bool{}
	for {
		u, err := r.Next()
		if err != nil {
			break
		}
		for _, op := range u.Ops {
			paths[op.Path.String()] = true
		}
	}
	for _, k := range []string{"a", "b", "c"} {
		if !paths[node.StringPath("s", k).String()] {
			t.Errorf("s.%s not in the saved file (%v)", k, paths)
		}
	}
	if count != n || h.Node != srv.S.cfg.Name {
		t.Errorf("file: %d entries by %q; reply said %d", count, h.Node, n)
	}
	if _, err := admin.Save(ctx, file); !errors.Is(err, clientproto.ErrBadRequest) {
		t.Errorf("save over an existing file: %v", err)
	}
	if _, err := admin.Save(ctx, "rel.dks"); !errors.Is(err, clientproto.ErrBadRequest) {
		t.Errorf("save to a relative path: %v", err)
	}
	alice, err := authDial(t, srv.Addr, client.WithPassword("alice", "alice-pw"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Save(ctx, filepath.Join(t.TempDir(), "x.dks")); !errors.Is(err, clientproto.ErrAuth) {
		t.Errorf("save by a non-admin: %v", err)
	}
}
