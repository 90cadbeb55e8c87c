package loadtool

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// figure is one row of the side-by-side table.
type figure struct {
	name  string
	unit  string
	lower bool // lower is better
	// floor: the relay has this figure too.
	floor bool
	get   func(*ServerResult) (float64, bool)
	// target is the goal for roost, "" for none; met checks it
	// given roost's value, the best peer's, Prosody's and the floor's
	// (NaN when missing); known is false when a figure it needs is missing.
	target string
	met    func(roost, best, prosody, floor float64) (ok, known bool)
	// need gives the value roost must reach for the target, so that a
	// target not met says how far off it is.
	need func(best, prosody, floor float64) float64
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r *Report) figures() []figure {
	p := r.Plan
	full := fmt.Sprintf("%d pairs, window %d", p.Pairs, p.Window)
	fixed := fmt.Sprintf("at %.0f msg/s", p.LatencyRate)
	return []figure{
		{name: "resident memory after start", unit: "MiB", lower: true,
			get:    func(s *ServerResult) (float64, bool) { return float64(s.RSSStart) / (1 << 20), s.RSSStart > 0 },
			target: "≤ ½ Prosody's", met: func(r, _, pr, _ float64) (bool, bool) { return r <= pr/2, !math.IsNaN(pr) },
			need: func(_, pr, _ float64) float64 { return pr / 2 }},
		{name: "of which anonymous (RssAnon: heap, stacks)", unit: "MiB", lower: true,
			get: func(s *ServerResult) (float64, bool) { return float64(s.AnonStart) / (1 << 20), s.AnonStart > 0 }},
		{name: "start to ready (restart with accounts)", unit: "ms", lower: true,
			get:    func(s *ServerResult) (float64, bool) { return ms(s.Ready), s.Ready > 0 },
			target: "< 100 ms", met: func(r, _, _, _ float64) (bool, bool) { return r < 100, true },
			need: func(_, _, _ float64) float64 { return 100 }},
		{name: "start to ready, first start (empty data)", unit: "ms", lower: true,
			get: func(s *ServerResult) (float64, bool) { return ms(s.FirstReady), s.FirstReady > 0 }},
		{name: "memory per idle TLS session", unit: "KiB", lower: true,
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(s.Conns, func(c *ConnsResult) float64 { return c.PerSession / 1024 })
			},
			target: "≤ ½ best peer", met: func(r, b, _, _ float64) (bool, bool) { return r <= b/2, !math.IsNaN(b) },
			need: func(b, _, _ float64) float64 { return b / 2 }},
		{name: fmt.Sprintf("idle sessions opened per second (%d)", p.Conns), unit: "/s",
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(s.Conns, func(c *ConnsResult) float64 { return c.Rate })
			}},
		{name: "messages per second, " + full, unit: "msg/s", floor: true,
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(s.Msgs, func(m *MsgsResult) float64 { return m.Rate })
			}},
		{name: "messages per server CPU-second, " + full, unit: "msg/CPU-s", floor: true,
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(s.Msgs, func(m *MsgsResult) float64 { return m.PerCPU })
			},
			target: "≥ 3× best peer, ≥ 50 % of floor", met: func(r, b, _, f float64) (bool, bool) {
				return r >= 3*b && r >= f/2, !math.IsNaN(b) && !math.IsNaN(f)
			},
			need: func(b, _, f float64) float64 { return max(3*b, f/2) }},
		{name: "latency p50, " + full, unit: "ms", lower: true, floor: true,
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(s.Msgs, func(m *MsgsResult) float64 { return ms(m.Latency.P50) })
			}},
		{name: "latency p99, " + full, unit: "ms", lower: true, floor: true,
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(s.Msgs, func(m *MsgsResult) float64 { return ms(m.Latency.P99) })
			}},
		{name: "latency p50 " + fixed, unit: "ms", lower: true, floor: true,
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(s.Latency, func(m *MsgsResult) float64 { return ms(m.Latency.P50) })
			}},
		{name: "latency p90 " + fixed, unit: "ms", lower: true, floor: true,
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(s.Latency, func(m *MsgsResult) float64 { return ms(m.Latency.P90) })
			}},
		{name: "latency p99 " + fixed, unit: "ms", lower: true, floor: true,
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(s.Latency, func(m *MsgsResult) float64 { return ms(m.Latency.P99) })
			},
			target: "≤ ¼ best peer", met: func(r, b, _, _ float64) (bool, bool) { return r <= b/4, !math.IsNaN(b) },
			need: func(b, _, _ float64) float64 { return b / 4 }},
		{name: "messages per server CPU-second " + fixed, unit: "msg/CPU-s", floor: true,
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(s.Latency, func(m *MsgsResult) float64 { return m.PerCPU })
			}},
		{name: fmt.Sprintf("logins per second, %d workers, ECDSA P-256", p.LoginWorkers), unit: "/s",
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(s.Logins, func(l *LoginsResult) float64 { return l.Rate })
			}},
		{name: "logins per server CPU-second, ECDSA P-256", unit: "/CPU-s", floor: true,
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(s.Logins, func(l *LoginsResult) float64 { return l.PerCPU })
			},
			target: "≥ 2× best peer", met: func(r, b, _, _ float64) (bool, bool) { return r >= 2*b, !math.IsNaN(b) },
			need: func(b, _, _ float64) float64 { return 2 * b }},
		{name: fmt.Sprintf("logins per second, %d workers, RSA-2048", p.LoginWorkers), unit: "/s",
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(s.LoginsRSA, func(l *LoginsResult) float64 { return l.Rate })
			}},
		{name: "logins per server CPU-second, RSA-2048", unit: "/CPU-s", floor: true,
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(s.LoginsRSA, func(l *LoginsResult) float64 { return l.PerCPU })
			},
			target: "≥ 2× best peer", met: func(r, b, _, _ float64) (bool, bool) { return r >= 2*b, !math.IsNaN(b) },
			need: func(b, _, _ float64) float64 { return 2 * b }},
		{name: "SASL2 + Bind 2 logins (SCRAM-SHA-1) per server CPU-second, ECDSA", unit: "/CPU-s", floor: true,
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(orFloor(s, s.LoginsSASL2), func(l *LoginsResult) float64 { return l.PerCPU })
			}},
		{name: "FAST reconnects (" + FASTMechanism + ", Bind 2) per server CPU-second, ECDSA", unit: "/CPU-s", floor: true,
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(orFloor(s, s.LoginsFAST), func(l *LoginsResult) float64 { return l.PerCPU })
			}},
		{name: fmt.Sprintf("MUC %d occupants: messages delivered per second", p.MUCOccupants), unit: "msg/s",
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(s.MUC, func(m *MUCResult) float64 { return m.Rate })
			}},
		{name: fmt.Sprintf("MUC %d occupants: messages delivered per server CPU-second", p.MUCOccupants), unit: "msg/CPU-s",
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(s.MUC, func(m *MUCResult) float64 { return m.PerCPU })
			},
			target: "≥ 3× best peer", met: func(r, b, _, _ float64) (bool, bool) { return r >= 3*b, !math.IsNaN(b) },
			need: func(b, _, _ float64) float64 { return 3 * b }},
		{name: fmt.Sprintf("archiving %s messages for one account (XEP-0313)", count(p.MAMFill)), unit: "msg/s",
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(s.MAM, func(m *MAMResult) float64 { return float64(m.Fill) / m.FillSeconds })
			}},
		{name: fmt.Sprintf("MAM page of %d from %s, latency p50", p.MAMPage, count(p.MAMFill)), unit: "ms", lower: true,
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(s.MAM, func(m *MAMResult) float64 { return pagesOr(m, ms(m.Latency.P50)) })
			},
			target: "< 10 ms", met: func(r, _, _, _ float64) (bool, bool) { return r < 10, true },
			need: func(_, _, _ float64) float64 { return 10 }},
		{name: fmt.Sprintf("MAM page of %d from %s, latency p99", p.MAMPage, count(p.MAMFill)), unit: "ms", lower: true,
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(s.MAM, func(m *MAMResult) float64 { return pagesOr(m, ms(m.Latency.P99)) })
			}},
		{name: fmt.Sprintf("MAM pages of %d per server CPU-second", p.MAMPage), unit: "/CPU-s",
			get: func(s *ServerResult) (float64, bool) {
				return nonNil(s.MAM, func(m *MAMResult) float64 { return pagesOr(m, m.PerCPU) })
			}},
	}
}

// orFloor returns r, or for the floor its one login figure: the TLS
// handshake alone, which every kind of login rests on.
func orFloor(s *ServerResult, r *LoginsResult) *LoginsResult {
	if s.Name == KindFloor {
		return s.Logins
	}
	return r
}

// pagesOr is v if the archive load read pages, else NaN: a server that
// did not archive the messages in time has no page figures.
func pagesOr(m *MAMResult, v float64) float64 {
	if m.Pages == 0 {
		return math.NaN()
	}
	return v
}

// count writes n compactly: 100000 as 100k.
func count(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

func nonNil[T any](v *T, f func(*T) float64) (float64, bool) {
	if v == nil {
		return 0, false
	}
	x := f(v)
	return x, !math.IsNaN(x) && !math.IsInf(x, 0)
}

func (r *Report) server(name string) *ServerResult {
	for _, s := range r.Servers {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// row is a figure evaluated over the report.
type row struct {
	f                            figure
	values                       map[string]float64 // by server; missing when not measured
	roost, best, prosody, floor  float64            // NaN when missing
	vsBest, vsFloor, met, target string
}

func (r *Report) rows() []row {
	var rows []row
	for _, f := range r.figures() {
		rw := row{f: f, values: map[string]float64{}, roost: math.NaN(), best: math.NaN(), prosody: math.NaN(), floor: math.NaN(), target: f.target}
		for _, s := range r.Servers {
			if s.Name == KindFloor && !f.floor {
				continue
			}
			if v, ok := f.get(s); ok {
				rw.values[s.Name] = v
			}
		}
		if v, ok := rw.values[KindRoost]; ok {
			rw.roost = v
		}
		if v, ok := rw.values[KindProsody]; ok {
			rw.prosody = v
		}
		if v, ok := rw.values[KindFloor]; ok {
			rw.floor = v
		}
		for _, peer := range []string{KindProsody, KindEjabberd} {
			v, ok := rw.values[peer]
			if !ok {
				continue
			}
			if math.IsNaN(rw.best) || (f.lower && v < rw.best) || (!f.lower && v > rw.best) {
				rw.best = v
			}
		}
		if !math.IsNaN(rw.roost) && !math.IsNaN(rw.best) && rw.best != 0 {
			rw.vsBest = fmt.Sprintf("%.2f×", rw.roost/rw.best)
		}
		// The fraction of the floor's performance roost reaches.
		if !math.IsNaN(rw.roost) && !math.IsNaN(rw.floor) && rw.roost != 0 && rw.floor != 0 {
			frac := rw.roost / rw.floor
			if f.lower {
				frac = rw.floor / rw.roost
			}
			rw.vsFloor = fmt.Sprintf("%.0f %%", 100*frac)
		}
		if f.met != nil && !math.IsNaN(rw.roost) {
			switch ok, known := f.met(rw.roost, rw.best, rw.prosody, rw.floor); {
			case !known:
			case ok:
				rw.met = "yes"
			default:
				rw.met = "NO"
				if f.need != nil {
					rel := "≥"
					if f.lower {
						rel = "≤"
					}
					rw.met = fmt.Sprintf("NO (needs %s %s)", rel, num(f.need(rw.best, rw.prosody, rw.floor)))
				}
			}
		}
		rows = append(rows, rw)
	}
	return rows
}

// num formats a figure with about three significant digits.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// columns are the servers of the table, in order.
func columns() []string {
	return []string{KindRoost, KindRoostWS, KindProsody, KindEjabberd, KindFloor}
}

// cells lays the table out as strings: a header and one line per figure.
func (r *Report) cells() [][]string {
	head := []string{"figure", "unit"}
	for _, c := range columns() {
		if r.server(c) != nil {
			head = append(head, c)
		}
	}
	head = append(head, "roost ÷ best peer", "roost of floor", "target", "met")
	out := [][]string{head}
	for _, rw := range r.rows() {
		line := []string{rw.f.name, rw.f.unit}
		for _, c := range columns() {
			if r.server(c) == nil {
				continue
			}
			if v, ok := rw.values[c]; ok {
				line = append(line, num(v))
			} else if c == KindFloor && !rw.f.floor {
				line = append(line, "")
			} else {
				line = append(line, "–")
			}
		}
		line = append(line, rw.vsBest, rw.vsFloor, rw.target, rw.met)
		out = append(out, line)
	}
	return out
}

// Table renders the side-by-side table as aligned text.
func (r *Report) Table() string {
	cells := r.cells()
	if len(r.Servers) == 0 {
		cells = nil
	}
	var width []int
	if len(cells) > 0 {
		width = make([]int, len(cells[0]))
	}
	for _, line := range cells {
		for i, c := range line {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	for n, line := range cells {
		for i, c := range line {
			pad := width[i] - len([]rune(c))
			if i > 1 && n > 0 && i < len(line)-2 { // numbers align right
				b.WriteString(strings.Repeat(" ", pad) + c)
			} else {
				b.WriteString(c + strings.Repeat(" ", pad))
			}
			if i < len(line)-1 {
				b.WriteString("  ")
			}
		}
		b.WriteString("\n")
		if n == 0 {
			total := len(width)*2 - 2
			for _, w := range width {
				total += w
			}
			b.WriteString(strings.Repeat("-", total) + "\n")
		}
	}
	for _, s := range r.S2S {
		b.WriteString(s.line() + "\n")
	}
	for _, s := range r.Servers {
		for _, e := range s.problems() {
			fmt.Fprintf(&b, "%s: %s\n", s.Name, e)
		}
	}
	return b.String()
}

func (s *S2SResult) line() string {
	if s.Msgs == nil {
		return fmt.Sprintf("federation %s↔%s: %s", s.A, s.B, s.Err)
	}
	m := s.Msgs
	line := fmt.Sprintf("federation %s↔%s: %s msg/s, %s msg per CPU-second of both servers (%s), p50 %s ms, p99 %s ms",
		s.A, s.B, num(m.Rate), num(m.PerCPU), cpuSplit(m.CPU), num(ms(m.Latency.P50)), num(ms(m.Latency.P99)))
	if s.Err != "" {
		line += "; " + s.Err
	}
	return line
}

func cpuSplit(cpu map[string]time.Duration) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(cpu)) {
		parts = append(parts, fmt.Sprintf("%s %.2f s", name, cpu[name].Seconds()))
	}
	return strings.Join(parts, ", ")
}

// problems lists what went wrong on a server: failed loads, lost
// messages, failed sessions.
func (s *ServerResult) problems() []string {
	out := append([]string(nil), s.Errors...)
	if s.OtherCPU > 0.2 {
		out = append(out, fmt.Sprintf("other processes kept %.2f cores busy on average during the loads: its figures are less reliable", s.OtherCPU))
	}
	for _, m := range []struct {
		name string
		r    *MsgsResult
	}{{"throughput", s.Msgs}, {"latency", s.Latency}} {
		if m.r == nil {
			continue
		}
		if m.r.Lost > 0 {
			out = append(out, fmt.Sprintf("%s load: %d messages never arrived", m.name, m.r.Lost))
		}
		if m.r.Errors > 0 {
			out = append(out, fmt.Sprintf("%s load: %d session errors, first: %s", m.name, m.r.Errors, m.r.FirstError))
		}
	}
	if s.Latency != nil && s.Latency.Offered > 0 && s.Latency.Rate < 0.95*s.Latency.Offered {
		out = append(out, fmt.Sprintf("latency load: delivered %.0f msg/s of %.0f offered", s.Latency.Rate, s.Latency.Offered))
	}
	for _, l := range []struct {
		name string
		r    *LoginsResult
	}{{"logins", s.Logins}, {"logins with RSA", s.LoginsRSA}, {"SASL2 logins", s.LoginsSASL2}, {"FAST logins", s.LoginsFAST}} {
		if l.r != nil && l.r.Failed > 0 {
			out = append(out, fmt.Sprintf("%s: %d failed, first: %s", l.name, l.r.Failed, l.r.FirstError))
		}
	}
	if m := s.MUC; m != nil && (m.Incomplete > 0 || m.Errors > 0) {
		out = append(out, fmt.Sprintf("group chat load: %d messages did not reach every occupant, %d session errors %s", m.Incomplete, m.Errors, m.FirstError))
	}
	return out
}
