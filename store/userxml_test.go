package store

import (
	"errors"
	"testing"
)

func TestDocuments(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice")
	type got struct {
		V     string
		Found bool
	}
	vcard := func() (got, error) { v, f, err := s.VCard("alice"); return got{string(v), f}, err }
	private := func(key string) func() (got, error) {
		return func() (got, error) { v, f, err := s.PrivateXML("alice", key); return got{string(v), f}, err }
	}
	steps := []struct {
		name    string
		do      func() error
		wantErr error
		read    func() (got, error)
		want    got
	}{
		{"no vcard", func() error { return nil }, nil, vcard, got{}},
		{"put vcard", func() error { return s.PutVCard("alice", []byte("<vCard><FN>A</FN></vCard>")) }, nil, vcard, got{"<vCard><FN>A</FN></vCard>", true}},
		{"replace vcard", func() error { return s.PutVCard("alice", []byte("<vCard/>")) }, nil, vcard, got{"<vCard/>", true}},
		{"empty deletes vcard", func() error { return s.PutVCard("alice", []byte{}) }, nil, vcard, got{}},
		{"nil delete of absent vcard", func() error { return s.PutVCard("alice", nil) }, nil, vcard, got{}},
		{"vcard without account", func() error { return s.PutVCard("nobody", []byte("<vCard/>")) }, ErrNotFound,
			func() (got, error) { v, f, err := s.VCard("nobody"); return got{string(v), f}, err }, got{}},
		{"put private", func() error { return s.PutPrivateXML("alice", "storage\x00storage:bookmarks", []byte("<storage/>")) }, nil,
			private("storage\x00storage:bookmarks"), got{"<storage/>", true}},
		{"other private key", func() error { return nil }, nil, private("storage\x00storage:rosternotes"), got{}},
		{"private key that looks like the vcard key", func() error { return nil }, nil, private("vcard"), got{}},
		{"delete private", func() error { return s.PutPrivateXML("alice", "storage\x00storage:bookmarks", nil) }, nil,
			private("storage\x00storage:bookmarks"), got{}},
	}
	for _, st := range steps {
		if err := st.do(); !errors.Is(err, st.wantErr) {
			t.Errorf("%s: got %v, want %v", st.name, err, st.wantErr)
		}
		g, err := st.read()
		if err != nil {
			t.Fatalf("%s: read: %v", st.name, err)
		}
		if g != st.want {
			t.Errorf("%s: read %+v, want %+v", st.name, g, st.want)
		}
	}
}

// TestPrivateXMLCount counts one user's fragments, not the vCard's or
// another user's.
func TestPrivateXMLCount(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice")
	mustCreate(t, s, "alicia")
	for _, k := range []string{"{urn:a}a", "{urn:b}b"} {
		if err := s.PutPrivateXML("alice", k, []byte("<x/>")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutPrivateXML("alicia", "{urn:a}a", []byte("<x/>")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutVCard("alice", []byte("<vCard/>")); err != nil {
		t.Fatal(err)
	}
	for user, want := range map[string]int{"alice": 2, "alicia": 1, "nobody": 0} {
		if n, err := s.PrivateXMLCount(user); err != nil || n != want {
			t.Errorf("PrivateXMLCount(%s) = %d, %v; want %d", user, n, err, want)
		}
	}
}
