package main

import (
	"math"
	"slices"
	"time"
)

// summary is the median of a measure over the rounds, with the lowest and highest value.
type summary struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// summarize returns the median, lowest and highest of xs, NaNs left out (a round that did not
// measure it). With an even count the median is the mean of the two middle values.
func summarize(xs []float64) summary {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return summary{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	slices.Sort(v)
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return summary{Median: m, Min: v[0], Max: v[len(v)-1], N: len(v)}
}

// roundRatios divides a by b round by round: both were measured in the same round, so the
// outside load hit them alike. A round missing either side gives NaN.
func roundRatios(a, b []float64) []float64 {
	out := make([]float64, max(len(a), len(b)))
	for i := range out {
		out[i] = math.NaN()
		if i < len(a) && i < len(b) && b[i] != 0 && !math.IsNaN(a[i]) && !math.IsNaN(b[i]) {
			out[i] = a[i] / b[i]
		}
	}
	return out
}

// percentile returns the nearest-rank percentile p of sorted latencies.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// perOpMicros is CPU seconds spent over ops operations, in microseconds per operation.
func perOpMicros(cpuSeconds float64, ops int) float64 {
	if ops <= 0 {
		return math.NaN()
	}
	return cpuSeconds / float64(ops) * 1e6
}

func msOf(d time.Duration) float64 { return float64(d) / 1e6 }
