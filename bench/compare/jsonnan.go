package main

import (
	"encoding/json"
	"math"
)

// JSON has no NaN (a figure a round did not measure): those are written as null.

func nullNaN(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return x
}

func nullNaNs(xs []float64) []any {
	if xs == nil {
		return nil
	}
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = nullNaN(x)
	}
	return out
}

func (s summary) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"median": nullNaN(s.Median), "min": nullNaN(s.Min), "max": nullNaN(s.Max), "n": s.N})
}

func (r caseResult) MarshalJSON() ([]byte, error) {
	type plain caseResult // without this method
	return json.Marshal(struct {
		plain
		CPUPerOp         []any `json:"cpu_us_per_op"`
		CPUPerOpTotal    any   `json:"cpu_us_per_op_total"`
		PeerBytesPerOp   []any `json:"peer_bytes_out_per_op,omitempty"`
		GossipBytesPerOp []any `json:"gossip_bytes_out_per_op,omitempty"`
	}{plain(r), nullNaNs(r.CPUPerOp), nullNaN(r.CPUPerOpTotal), nullNaNs(r.PeerBytesPerOp), nullNaNs(r.GossipBytesPerOp)})
}
