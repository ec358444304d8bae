package main

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		in            []float64
		med, min, max float64
		n             int
	}{
		{[]float64{3, 1, 2}, 2, 1, 3, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4, 4},
		{[]float64{5, nan, 1}, 3, 1, 5, 2},
		{[]float64{7}, 7, 7, 7, 1},
	} {
		s := summarize(tc.in)
		if s.Median != tc.med || s.Min != tc.min || s.Max != tc.max || s.N != tc.n {
			t.Errorf("summarize(%v) = %+v, want median %v min %v max %v n %d", tc.in, s, tc.med, tc.min, tc.max, tc.n)
		}
	}
	if s := summarize([]float64{nan}); !math.IsNaN(s.Median) || s.N != 0 {
		t.Errorf("summarize(NaN) = %+v, want NaN median, n 0", s)
	}
}

func TestRoundRatios(t *testing.T) {
	got := roundRatios([]float64{10, 30, 8, 5}, []float64{5, 10, 0, math.NaN()})
	want := []float64{2, 3, math.NaN(), math.NaN()}
	if len(got) != len(want) {
		t.Fatalf("roundRatios: %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
			t.Errorf("ratio %d = %v, want %v", i, got[i], want[i])
		}
	}
	// The median of per-round ratios, not the ratio of medians: a round where both sides
	// were slowed by outside load keeps its ratio.
	r := summarize(roundRatios([]float64{100, 50, 90}, []float64{100, 50, 100}))
	if r.Median != 1 {
		t.Errorf("median ratio %v, want 1", r.Median)
	}
}

func TestPercentile(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(lat, 50); p != 50*time.Millisecond {
		t.Errorf("p50 %v", p)
	}
	if p := percentile(lat, 99); p != 99*time.Millisecond {
		t.Errorf("p99 %v", p)
	}
	if p := percentile(nil, 99); p != 0 {
		t.Errorf("empty p99 %v", p)
	}
}

func TestPerOpMicros(t *testing.T) {
	if v := perOpMicros(0.7, 100000); math.Abs(v-7) > 1e-9 {
		t.Errorf("0.7 s over 100k ops = %v us, want 7", v)
	}
	if v := perOpMicros(1, 0); !math.IsNaN(v) {
		t.Errorf("no ops: %v, want NaN", v)
	}
}

func TestProcStat(t *testing.T) {
	// A comm with spaces and parentheses: the fields count from the last ')'.
	line := "1234 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 4 0 100 2000 300"
	cpu, err := parseStatCPU(line)
	if err != nil || math.Abs(cpu-3.0) > 1e-9 {
		t.Errorf("parseStatCPU = %v, %v; want 3 s (250+50 ticks)", cpu, err)
	}
	if _, err := parseStatCPU("garbage"); err == nil {
		t.Error("parseStatCPU(garbage): no error")
	}
}

func TestMetricSum(t *testing.T) {
	text := `# HELP distkv_peer_bytes_total x
distkv_peer_bytes_total{direction="in"} 10
distkv_peer_bytes_total{direction="out"} 1.5e+06
distkv_peer_bytes_totalx{direction="out"} 99
distkv_members{state="alive"} 3
`
	if v, ok := metricSum(text, "distkv_peer_bytes_total", `direction="out"`); !ok || v != 1.5e6 {
		t.Errorf("out = %v %v", v, ok)
	}
	if v, ok := metricSum(text, "distkv_peer_bytes_total", ""); !ok || v != 1.5e6+10 {
		t.Errorf("all = %v %v", v, ok)
	}
	if _, ok := metricSum(text, "distkv_gossip_bytes_total", ""); ok {
		t.Error("missing metric found")
	}
}

func TestJSONNaN(t *testing.T) {
	r := caseResult{Case: "x", CPUPerOp: []float64{1, math.NaN()}, CPUPerOpTotal: math.NaN()}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back["cpu_us_per_op_total"] != nil || back["case"] != "x" {
		t.Errorf("round trip: %s", b)
	}
	if ps := back["cpu_us_per_op"].([]any); len(ps) != 2 || ps[0] != 1.0 || ps[1] != nil {
		t.Errorf("cpu_us_per_op: %s", b)
	}
	if _, err := json.Marshal(summarize(nil)); err != nil {
		t.Errorf("empty summary: %v", err)
	}
}
