package contact

import (
	"slices"
	"testing"

	"roost/module"
)

func TestServerForm(t *testing.T) {
	tests := []struct {
		name string
		in   Addresses
		want map[string][]string // nil: no form
	}{
		{"none", Addresses{}, nil},
		{"admin and abuse", Addresses{Admin: []string{"mailto:mum@example.org", "xmpp:mum@example.org"}, Abuse: []string{"mailto:abuse@example.org"}},
			map[string][]string{"admin-addresses": {"mailto:mum@example.org", "xmpp:mum@example.org"}, "abuse-addresses": {"mailto:abuse@example.org"}}},
		{"every kind", Addresses{Admin: []string{"a:"}, Abuse: []string{"b:"}, Support: []string{"c:"}, Security: []string{"d:"}, Feedback: []string{"e:"}, Sales: []string{"f:"}},
			map[string][]string{"admin-addresses": {"a:"}, "abuse-addresses": {"b:"}, "support-addresses": {"c:"}, "security-addresses": {"d:"},
				"feedback-addresses": {"e:"}, "sales-addresses": {"f:"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var set module.Set
			set.Add(New(tt.in))
			if err := set.Err(); err != nil {
				t.Fatal(err)
			}
			forms := set.Catalog().Server.Forms
			if tt.want == nil {
				if len(forms) != 0 {
					t.Fatalf("%d forms, want none", len(forms))
				}
				return
			}
			if len(forms) != 1 || forms[0].FormType() != FormType || forms[0].Type != "result" {
				t.Fatalf("forms %+v, want one result form of %s", forms, FormType)
			}
			f := forms[0]
			if len(f.Fields) != len(tt.want)+1 {
				t.Errorf("%d fields, want %d and FORM_TYPE", len(f.Fields), len(tt.want))
			}
			for v, want := range tt.want {
				fl := f.Field(v)
				if fl == nil || fl.Type != "list-multi" || !slices.Equal(fl.Values, want) {
					t.Errorf("field %s: %+v, want list-multi %v", v, fl, want)
				}
			}
		})
	}
}
