package node

import "testing"

// TestLastOriginForgotten: the remembered origin does not outlive Forget: a forgotten
// origin's highest tick no longer widens what is plausible of it.
func TestLastOriginForgotten(t *testing.T) {
	n := New(Config{Origin: "a~1"})
	for tick := uint64(1); tick <= 5; tick++ {
		n.Apply(single("x~1", tick, tick, StringPath("k"), AppendInt(nil, 1), nil))
	}
	if err := n.PlausibleHead("x~1", 5+MaxTickAhead); err != nil {
		t.Fatalf("before Forget: %v", err)
	}
	if n.Forget([]string{"x~1"}) != 1 {
		t.Fatal("x~1 not forgotten")
	}
	if err := n.PlausibleHead("x~1", 5+MaxTickAhead); err == nil {
		t.Error("after Forget, a tick past MaxTickAhead of x~1 is still plausible")
	}
	if o := n.originOf("x~1"); !o.forgotten {
		t.Error("originOf returns a live state for a forgotten origin")
	}
}
