package sasl_test

import (
	"strings"
	"testing"

	"roost/sasl"
)

func TestParseExternal(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{name: "empty response", in: "", want: ""},
		{name: "domain", in: "example.org", want: "example.org"},
		{name: "bare JID", in: "juliet@example.org", want: "juliet@example.org"},
		{name: "UTF-8", in: "jüliet@exämple.org", want: "jüliet@exämple.org"},
		{name: "NUL", in: "example.org\x00", wantErr: true},
		{name: "invalid UTF-8", in: "ex\xffample.org", wantErr: true},
		{name: "too long", in: strings.Repeat("a", 3072), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sasl.ParseExternal([]byte(tc.in))
			if tc.wantErr {
				wantCondition(t, err, sasl.MalformedRequest)
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseExternal(%q) = %q, %v; want %q, nil", tc.in, got, err, tc.want)
			}
		})
	}
}
