package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestMonitoringFiles: deploy/monitoring's alert rules are YAML with an expression per rule, the
// dashboard is JSON, and every distkv metric either names is one the server exports
// (adminMetricNames, plus the families that appear only once they have a sample).
func TestMonitoringFiles(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "deploy", "monitoring")
	known := append(slices.Clone(adminMetricNames), "distkv_propagation_delay_seconds", "distkv_gap_pulls_total",
		"distkv_snapshot_age_seconds", "distkv_converged")
	metricRe := regexp.MustCompile(`distkv_[a-z_]+`)
	check := func(file, expr string) {
		for _, m := range metricRe.FindAllString(expr, -1) {
			base := regexp.MustCompile(`_(bucket|count|sum)$`).ReplaceAllString(m, "")
			if !slices.Contains(known, base) {
				t.Errorf("%s: %q uses %s, which the server does not export", file, expr, m)
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("alerts.yml: a rule without alert or expr: %+v", r)
			}
			check("alerts.yml", r.Expr)
			n++
		}
	}
	if n < 6 {
		t.Errorf("alerts.yml has %d rules", n)
	}
	b, err = os.ReadFile(filepath.Join(dir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("dashboard panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			check("grafana-dashboard.json", q.Expr)
		}
	}
}
