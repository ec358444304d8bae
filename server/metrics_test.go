package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestEveryActionLabelled: each client action clientproto names (its Act constants, read
// from the source so that a new one cannot be missed) is counted under its own name, not as
// action="other", result="error".
func TestEveryActionLabelled(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../clientproto/request.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || !strings.HasPrefix(vs.Names[0].Name, "Act") || len(vs.Values) != 1 {
			return true
		}
		if lit, ok := vs.Values[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			a, _ := strconv.Unquote(lit.Value)
			actions = append(actions, a)
		}
		return true
	})
	if len(actions) < 10 {
		t.Fatalf("found only %d actions in clientproto/request.go: %v", len(actions), actions)
	}
	for _, a := range actions {
		if !readActions[a] && !writeActions[a] && !knownActions[a] {
			t.Errorf("action %q is counted as \"other\"", a)
		}
	}
	m := newMetrics(&Server{})
	m.dispatched("no such action", time.Now())
	if got := testutil.ToFloat64(m.requests.WithLabelValues("other", "error")); got != 1 {
		t.Errorf("an unknown action counted %v times as other, want 1", got)
	}
}
