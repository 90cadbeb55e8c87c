package stanza

import (
	"testing"

	"roost/xmlstream"
)

func TestStoreHintOf(t *testing.T) {
	tests := []struct {
		name, xml string
		want      StoreHint
	}{
		{"none", `<message><body>hi</body></message>`, HintNone},
		{"store", `<message><store xmlns='urn:xmpp:hints'/></message>`, HintStore},
		{"no-store", `<message><body>hi</body><no-store xmlns='urn:xmpp:hints'/></message>`, HintNoStore},
		{"no-permanent-store", `<message><no-permanent-store xmlns='urn:xmpp:hints'/></message>`, HintNoStore},
		{"no-store wins after store", `<message><store xmlns='urn:xmpp:hints'/><no-store xmlns='urn:xmpp:hints'/></message>`, HintNoStore},
		{"no-store wins before store", `<message><no-store xmlns='urn:xmpp:hints'/><store xmlns='urn:xmpp:hints'/></message>`, HintNoStore},
		{"other namespace", `<message><no-store xmlns='urn:example'/></message>`, HintNone},
		{"no-copy is not about storing", `<message><no-copy xmlns='urn:xmpp:hints'/></message>`, HintNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			el, err := xmlstream.Parse([]byte(tt.xml), xmlstream.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if got := StoreHintOf(el); got != tt.want {
				t.Errorf("StoreHintOf(%s) = %d, want %d", tt.xml, got, tt.want)
			}
		})
	}
}
