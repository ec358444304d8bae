package server

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// TestAuthInfo: auth_info is the (nil, "auth") entry, as DistKV's: nothing while logins were
// never configured, then {current: METHOD}, readable by a user who is no admin.
func TestAuthInfo(t *testing.T) {
	c := ptStart(t, Config{}).dial(t)
	if r := c.ok(ptM{"action": "auth_info"}); r["value"] != nil || r["tock"] == nil {
		t.Errorf("auth_info before logins: %v", r)
	}
	srv, _ := authSetup(t, map[string]string{"t": "r"})
	alice := srv.dial(t)
	alice.callErr(ptM{"action": "auth_info"}, "auth") // not before a login
	loginRaw(t, alice, "alice", "alice-pw")
	r := alice.ok(ptM{"action": "auth_info", "nchain": 1})
	v, _ := r["value"].(map[string]any)
	if v["current"] != "password" || r["chain"] == nil {
		b, _ := msgpack.Marshal(r)
		t.Errorf("auth_info with logins on: %v (%x)", r, b)
	}
	// Logins off again: the entry's value is {}, which DistKV's CLI cannot read; no value.
	admin := srv.dial(t)
	loginRaw(t, admin, "admin", "admin-pw")
	admin.ok(ptM{"action": "set_auth_typ", "typ": nil})
	if r := srv.dial(t).ok(ptM{"action": "auth_info"}); r["value"] != nil {
		t.Errorf("auth_info after logins were turned off: %v", r)
	}
}
