package metrics

import (
	"bytes"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parse reads text-format output with the Prometheus parser.
func parse(t testing.TB, b []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("parse:\n%s\nerr: %v", b, err)
	}
	return fams
}

// flat is a family as "name{l=v,...}" → value, for comparisons.
func flat(fams map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue()
			out[name+"{"+strings.Join(ls, ",")+"}"] = v
		}
	}
	return out
}

func TestAppendParses(t *testing.T) {
	tests := []struct {
		name     string
		fams     []Family
		want     map[string]float64
		wantType map[string]dto.MetricType
		wantHelp map[string]string
	}{
		{
			name: "counter without labels",
			fams: []Family{{Name: "a_total", Help: "A.", Type: Counter, Samples: []Sample{{Value: 3}}}},
			want: map[string]float64{"a_total{}": 3}, wantType: map[string]dto.MetricType{"a_total": dto.MetricType_COUNTER},
			wantHelp: map[string]string{"a_total": "A."},
		},
		{
			name: "gauge with escaped labels and help",
			fams: []Family{{Name: "g", Help: "back\\slash\nnew \"line\"", Type: Gauge, Samples: []Sample{
				{Labels: []Label{{"name", `q"uo\te` + "\n"}}, Value: 1.5},
				{Labels: []Label{{"name", "b"}, {"x", "é"}}, Value: -2},
			}}},
			want:     map[string]float64{"g{name=q\"uo\\te\n}": 1.5, "g{name=b,x=é}": -2},
			wantType: map[string]dto.MetricType{"g": dto.MetricType_GAUGE},
			wantHelp: map[string]string{"g": "back\\slash\nnew \"line\""},
		},
		{
			name: "big and special values",
			fams: []Family{{Name: "v", Help: "", Type: Gauge, Samples: []Sample{
				{Labels: []Label{{"k", "big"}}, Value: 1 << 62},
				{Labels: []Label{{"k", "inf"}}, Value: math.Inf(1)},
				{Labels: []Label{{"k", "ninf"}}, Value: math.Inf(-1)},
			}}},
			want:     map[string]float64{"v{k=big}": 1 << 62, "v{k=inf}": math.Inf(1), "v{k=ninf}": math.Inf(-1)},
			wantType: map[string]dto.MetricType{"v": dto.MetricType_GAUGE},
			wantHelp: map[string]string{"v": ""},
		},
		{
			name: "a family without samples is left out",
			fams: []Family{{Name: "empty", Help: "E.", Type: Gauge}, {Name: "b", Help: "B.", Type: Gauge, Samples: []Sample{{Value: 0}}}},
			want: map[string]float64{"b{}": 0}, wantType: map[string]dto.MetricType{"b": dto.MetricType_GAUGE},
			wantHelp: map[string]string{"b": "B."},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fams := parse(t, Append(nil, tc.fams))
			if diff := cmp.Diff(tc.want, flat(fams)); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
			gotType, gotHelp := map[string]dto.MetricType{}, map[string]string{}
			for name, f := range fams {
				gotType[name], gotHelp[name] = f.GetType(), f.GetHelp()
			}
			if diff := cmp.Diff(tc.wantType, gotType); diff != "" {
				t.Errorf("types (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantHelp, gotHelp); diff != "" {
				t.Errorf("help (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCountersFamilies(t *testing.T) {
	var c Counters
	c.StanzasRouted.Add(7)
	c.LoginsOK.Add(2)
	c.LoginsBadCredentials.Add(1)
	c.C2SQueueFull.Add(4)
	c.LoginsDelayed.Add(3)
	c.C2SEvicted.Add(5)
	c.DialbackRefused.Add(6)
	rec := httptest.NewRecorder()
	Handler(c.Families).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if got := rec.Header().Get("Content-Type"); got != ContentType {
		t.Errorf("Content-Type = %q, want %q", got, ContentType)
	}
	want := map[string]float64{
		"roost_stanzas_routed_total{}":                7,
		"roost_logins_total{result=ok}":               2,
		"roost_logins_total{result=bad_credentials}":  1,
		"roost_logins_total{result=failed}":           0,
		"roost_logins_delayed_total{}":                3,
		"roost_drops_total{reason=c2s_queue_full}":    4,
		"roost_drops_total{reason=s2s_queue_full}":    0,
		"roost_drops_total{reason=c2s_crowd_evicted}": 5,
		"roost_drops_total{reason=dialback_refused}":  6,
	}
	if diff := cmp.Diff(want, flat(parse(t, rec.Body.Bytes()))); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

// FuzzAppend checks that any help text and label value survive the
// escaping: the Prometheus parser reads back what was written.
func FuzzAppend(f *testing.F) {
	f.Add("help", "value")
	f.Add("a\\b\nc", `"\n\\`)
	f.Add("", "é\x00")
	f.Fuzz(func(t *testing.T, help, value string) {
		if !utf8.ValidString(help) || !utf8.ValidString(value) {
			t.Skip() // the format is UTF-8
		}
		out := Append(nil, []Family{{Name: "f", Help: help, Type: Gauge, Samples: []Sample{{Labels: []Label{{"l", value}}, Value: 1}}}})
		fams := parse(t, out)
		f := fams["f"]
		if f == nil || len(f.GetMetric()) != 1 {
			t.Fatalf("got %v from\n%s", fams, out)
		}
		// Blanks between the name and the text separate them.
		if got, want := f.GetHelp(), strings.TrimLeft(help, " \t"); got != want {
			t.Errorf("help = %q, want %q", got, want)
		}
		if got := f.GetMetric()[0].GetLabel()[0].GetValue(); got != value {
			t.Errorf("label = %q, want %q", got, value)
		}
	})
}
