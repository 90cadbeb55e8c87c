package vcard

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"roost/internal/xmpptest"
	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

type fakeStore struct {
	mu     sync.Mutex
	vcards map[string][]byte
}

func (f *fakeStore) VCard(user string) ([]byte, bool, error) {
	if user == "broken@example.com" {
		return nil, false, errors.New("disk on fire")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.vcards[user]
	return v, ok, nil
}

func (f *fakeStore) PutVCard(user string, v []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(v) == 0 {
		delete(f.vcards, user)
		return nil
	}
	f.vcards[user] = v
	return nil
}

func encode(el *xmlstream.Element) string {
	return string(xmlstream.AppendElement(nil, el, xmlstream.NSClient))
}

func TestHandleStanza(t *testing.T) {
	const julietCard = `<vCard xmlns="vcard-temp"><FN>Juliet Capulet</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>iVBORw0KGgo=</BINVAL></PHOTO></vCard>`
	tests := []struct {
		name   string
		stored map[string]string
		in     string
		want   string // the reply's payload ("" for an empty result)
		err    stanza.Condition
		after  map[string]string // the store afterwards, when checked
	}{
		{"get own, none stored", nil,
			`<iq type='get' id='v' from='juliet@example.com/balcony'><vCard xmlns='vcard-temp'/></iq>`,
			`<vCard xmlns="vcard-temp"/>`, "", nil},
		{"get another user's", map[string]string{"juliet@example.com": julietCard},
			`<iq type='get' id='v' from='romeo@example.com/orchard' to='juliet@example.com'><vCard xmlns='vcard-temp'/></iq>`,
			julietCard, "", nil},
		{"get the server's", nil,
			`<iq type='get' id='v' from='romeo@example.com/orchard' to='example.com'><vCard xmlns='vcard-temp'/></iq>`,
			`<vCard xmlns="vcard-temp"/>`, "", nil},
		{"set own", nil,
			`<iq type='set' id='v' from='juliet@example.com/balcony'>` + julietCard + `</iq>`,
			"", "", map[string]string{"juliet@example.com": julietCard}},
		{"set own with bare to", nil,
			`<iq type='set' id='v' from='juliet@example.com/balcony' to='juliet@example.com'>` + julietCard + `</iq>`,
			"", "", map[string]string{"juliet@example.com": julietCard}},
		{"set keeps foreign namespaces", nil,
			`<iq type='set' id='v' from='juliet@example.com/balcony'><vCard xmlns='vcard-temp'><x xmlns='urn:example' a='1'>t</x></vCard></iq>`,
			"", "", map[string]string{"juliet@example.com": `<vCard xmlns="vcard-temp"><x xmlns="urn:example" a="1">t</x></vCard>`}},
		{"set empty deletes", map[string]string{"juliet@example.com": julietCard},
			`<iq type='set' id='v' from='juliet@example.com/balcony'><vCard xmlns='vcard-temp'> </vCard></iq>`,
			"", "", map[string]string{}},
		{"set another user's", nil,
			`<iq type='set' id='v' from='romeo@example.com/orchard' to='juliet@example.com'>` + julietCard + `</iq>`,
			"", stanza.Forbidden, map[string]string{}},
		{"set the server's", nil,
			`<iq type='set' id='v' from='romeo@example.com/orchard' to='example.com'>` + julietCard + `</iq>`,
			"", stanza.Forbidden, map[string]string{}},
		{"too large", nil,
			`<iq type='set' id='v' from='juliet@example.com/balcony'><vCard xmlns='vcard-temp'><DESC>` + strings.Repeat("x", 200) + `</DESC></vCard></iq>`,
			"", stanza.NotAcceptable, map[string]string{}},
		{"wrong payload", nil,
			`<iq type='get' id='v' from='juliet@example.com/balcony'><vcard xmlns='vcard-temp'/></iq>`,
			"", stanza.BadRequest, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := &fakeStore{vcards: map[string][]byte{}}
			for u, v := range tc.stored {
				fs.vcards[u] = []byte(v)
			}
			h := New(Options{Store: fs, MaxBytes: 200})
			st := xmpptest.Stanza(t, tc.in)
			reply, err := h.HandleStanza(context.Background(), st)
			if tc.err != "" {
				if !errors.Is(err, &stanza.Error{Condition: tc.err}) {
					t.Fatalf("err = %v, want %s", err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if tc.want == "" {
				if reply != nil {
					t.Errorf("got %s, want an empty result", encode(reply))
				}
			} else if got := encode(reply.FirstChild()); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if tc.after != nil {
				got := map[string]string{}
				for u, v := range fs.vcards {
					got[u] = string(v)
				}
				if len(got) != len(tc.after) {
					t.Fatalf("store holds %v, want %v", got, tc.after)
				}
				for u, v := range tc.after {
					if got[u] != v {
						t.Errorf("store[%s] = %s, want %s", u, got[u], v)
					}
				}
			}
		})
	}
}

func TestStoredDataErrors(t *testing.T) {
	tests := []struct {
		name   string
		user   string
		stored string
	}{
		{"store fails", "broken@example.com", ""},
		{"not XML", "juliet@example.com", "<vCard"},
		{"not a vCard", "juliet@example.com", `<x xmlns="urn:example"/>`},
		{"trailing data", "juliet@example.com", `<vCard xmlns="vcard-temp"/><vCard xmlns="vcard-temp"/>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := New(Options{Store: &fakeStore{vcards: map[string][]byte{tc.user: []byte(tc.stored)}}})
			st := xmpptest.Stanza(t, `<iq type='get' id='v' from='romeo@example.com/orchard' to='`+tc.user+`'><vCard xmlns='vcard-temp'/></iq>`)
			_, err := h.HandleStanza(context.Background(), st)
			var se *stanza.Error
			if err == nil || errors.As(err, &se) {
				t.Fatalf("err = %v, want an internal error", err)
			}
		})
	}
}

// FuzzDecode: decoding stored bytes never panics, fails only with
// ErrCorrupt, and what decodes re-encodes to bytes that decode to the same
// tree.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`<vCard xmlns="vcard-temp"><FN>Juliet</FN></vCard>`))
	f.Add([]byte(`<vCard xmlns="vcard-temp"><x xmlns="urn:example" a="&amp;">t</x></vCard>`))
	f.Add([]byte(`<v:vCard xmlns:v="vcard-temp"/>`))
	f.Add([]byte(`<vCard xmlns="vcard-temp"><!-- c --></vCard>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		el, err := decode(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		again, err := decode(xmlstream.AppendElement(nil, el, ""))
		if err != nil {
			t.Fatalf("re-encoded vCard does not decode: %v", err)
		}
		if !xmlstream.Equal(el, again) {
			t.Fatalf("round trip changed %s into %s", el, again)
		}
	})
}

// FuzzHandleSet: whatever vCard a client sets is stored, then served back
// unchanged, or refused with a stanza error.
func FuzzHandleSet(f *testing.F) {
	f.Add(`<FN>Juliet</FN>`)
	f.Add(`<x xmlns='urn:a'><y xmlns=''/></x>`)
	f.Add(` `)
	f.Fuzz(func(t *testing.T, inner string) {
		el, err := parseStanza(`<iq type='set' id='v' from='juliet@example.com/balcony'><vCard xmlns='vcard-temp'>` + inner + `</vCard></iq>`)
		if err != nil {
			return
		}
		h := New(Options{Store: &fakeStore{vcards: map[string][]byte{}}, MaxBytes: 4096})
		if _, err := h.HandleStanza(context.Background(), el); err != nil {
			var se *stanza.Error
			if !errors.As(err, &se) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		get, err := parseStanza(`<iq type='get' id='g' from='romeo@example.com/orchard' to='juliet@example.com'><vCard xmlns='vcard-temp'/></iq>`)
		if err != nil {
			t.Fatal(err)
		}
		reply, err := h.HandleStanza(context.Background(), get)
		if err != nil {
			t.Fatalf("get after set: %v", err)
		}
		set := el.El.FirstChild()
		if got := reply.FirstChild(); !empty(set) && !xmlstream.Equal(got, set) {
			t.Fatalf("set %s, got back %s", set, got)
		}
	})
}

func parseStanza(s string) (*stanza.Stanza, error) {
	d := xmlstream.NewDecoder(strings.NewReader(`<s xmlns='jabber:client'>`+s), xmlstream.Limits{})
	if _, err := d.ReadHeader(); err != nil {
		return nil, err
	}
	el, err := d.ReadElement()
	if err != nil {
		return nil, err
	}
	st, err := stanza.Parse(el)
	return &st, err
}

func TestOnSet(t *testing.T) {
	var got []string
	h := New(Options{Store: &fakeStore{vcards: map[string][]byte{}}, MaxBytes: 64, OnSet: func(_ context.Context, account jid.JID, v *xmlstream.Element) {
		got = append(got, account.String()+" "+encode(v))
	}})
	for _, in := range []string{
		`<iq type='set' id='v' from='juliet@example.com/balcony'><vCard xmlns='vcard-temp'><FN>J</FN></vCard></iq>`,
		`<iq type='set' id='v' from='juliet@example.com/balcony'><vCard xmlns='vcard-temp'><FN>` + strings.Repeat("x", 100) + `</FN></vCard></iq>`, // refused: too large
		`<iq type='set' id='v' from='romeo@example.com/x' to='juliet@example.com'><vCard xmlns='vcard-temp'/></iq>`,                                // refused: forbidden
		`<iq type='get' id='v' from='juliet@example.com/balcony'><vCard xmlns='vcard-temp'/></iq>`,
		`<iq type='set' id='v' from='juliet@example.com/balcony'><vCard xmlns='vcard-temp'/></iq>`,
	} {
		_, _ = h.HandleStanza(context.Background(), xmpptest.Stanza(t, in))
	}
	want := []string{`juliet@example.com <vCard xmlns="vcard-temp"><FN>J</FN></vCard>`, `juliet@example.com <vCard xmlns="vcard-temp"/>`}
	if !slices.Equal(got, want) {
		t.Errorf("OnSet saw %q, want %q", got, want)
	}
}
