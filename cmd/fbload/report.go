package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// row gathers every round's measurements of one body at one client count.
type row struct {
	body    string
	clients int
	by      map[string]*total
}

// total sums a target's rounds: rates are totals over totals, and the p99
// is over every round's latencies together.
type total struct {
	accepted int64
	elapsed  time.Duration
	drain    time.Duration
	cpu      time.Duration
	lat      []time.Duration
	anon     int64 // peak RssAnon
	file     int64 // peak RssFile
}

func (r *row) add(name string, m measurement) {
	if r.by == nil {
		r.by = map[string]*total{}
	}
	t := r.by[name]
	if t == nil {
		t = &total{}
		r.by[name] = t
	}
	t.accepted += m.res.accepted
	t.elapsed += m.res.elapsed
	t.drain += m.drain
	t.cpu += m.cpu
	t.lat = append(t.lat, m.res.lat...)
	t.anon, t.file = max(t.anon, m.anon), max(t.file, m.file)
	slices.Sort(t.lat)
}

func (t *total) rate() float64 {
	if t == nil || t.elapsed <= 0 {
		return 0
	}
	return float64(t.accepted) / t.elapsed.Seconds()
}

// endToEnd is events posted ÷ (load time + time until the inbox drained).
func (t *total) endToEnd() float64 {
	if t == nil || t.elapsed+t.drain <= 0 {
		return 0
	}
	return float64(t.accepted) / (t.elapsed + t.drain).Seconds()
}

// cpuPerEvent is the server's CPU time per accepted event.
func (t *total) cpuPerEvent() time.Duration {
	if t == nil || t.accepted == 0 {
		return 0
	}
	return t.cpu / time.Duration(t.accepted)
}

func (t *total) p99() time.Duration {
	if t == nil {
		return 0
	}
	return percentile(t.lat, 0.99)
}

// printTable writes the rows as a Markdown table.
func printTable(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| body | clients | bare gin ev/s | durable bound ev/s | Firebreak ev/s | ÷ bound | ÷ bare | p99 bare / bound / Firebreak | Firebreak end to end ev/s | CPU per event: bound / Firebreak (all in) | Firebreak peak RSS anon / file |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		bare, bound, fb := r.by["bare"], r.by["bound"], r.by["firebreak"]
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s / %s / %s | %s | %s / %s | %s / %s |\n",
			r.body, r.clients,
			kilo(bare.rate()), kilo(bound.rate()), kilo(fb.rate()),
			ratio(fb.rate(), bound.rate()), ratio(fb.rate(), bare.rate()),
			ms(bare.p99()), ms(bound.p99()), ms(fb.p99()),
			kilo(fb.endToEnd()),
			us(bound.cpuPerEvent()), us(fb.cpuPerEvent()),
			mib(fb.memAnon()), mib(fb.memFile()))
	}
}

func kilo(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.1fk", v/1000)
	}
	return fmt.Sprintf("%.0f", v)
}

func ratio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

func (t *total) memAnon() int64 {
	if t == nil {
		return 0
	}
	return t.anon
}

func (t *total) memFile() int64 {
	if t == nil {
		return 0
	}
	return t.file
}
