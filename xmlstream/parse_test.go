package xmlstream

import (
	"errors"
	"io"
	"testing"
)

func TestParseRoundTrip(t *testing.T) {
	el := New(NSClient, "message").SetAttr("to", "a@b").Append(New(NSClient, "body").AppendText("x < y"),
		New("urn:xmpp:delay", "delay").SetAttr("stamp", "2026-01-01T00:00:00Z"))
	got, err := Parse(AppendElement(nil, el, ""), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !Equal(got, el) {
		t.Errorf("got %s, want %s", got, el)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"trailing element", `<a xmlns='u'/><b/>`, ErrTrailingData},
		{"comment", `<a xmlns='u'><!-- x --></a>`, &Error{Condition: CondRestrictedXML}},
		{"truncated", `<a xmlns='u'>`, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse([]byte(tc.in), Limits{}); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
