package server

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"roost/archive"
	"roost/jid"
	"roost/stanza"
	"roost/store"
	"roost/xmlstream"
)

// TestArchiveStore runs archive queries through the adapter on a real
// store: paging both ways, with, known ids and their tags.
func TestArchiveStore(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "roost.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const owner = "den@conference.example.org" // a room: no account needed
	clock := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	a := archiveStore{st: st, now: func() time.Time { clock = clock.Add(time.Second); return clock }}
	var ids []archive.ID
	for i := range 10 {
		with := "alice@example.org"
		if i%2 == 1 {
			with = "bob@example.org"
		}
		id, err := a.Append(owner, false, with, "", fmt.Appendf(nil, `<message xmlns="jabber:client" type="groupchat"><body>%d</body></message>`, i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	iq := &stanza.Stanza{Kind: stanza.IQ, Type: stanza.TypeSet, ID: "q", From: jid.MustParse("carol@example.org/pc")}
	run := func(q archive.Query) ([]string, *xmlstream.Element, error) {
		var got []string
		res, err := archive.Answer(a, jid.MustParse(owner), iq, q, xmlstream.Limits{}, func(el *xmlstream.Element) {
			got = append(got, el.Child(archive.NS, "result").Child(archive.NSForward, "forwarded").Child(xmlstream.NSClient, "message").ChildText(xmlstream.NSClient, "body"))
		})
		return got, res, err
	}
	tests := []struct {
		name string
		q    archive.Query
		want []string
	}{
		{"first three", archive.Query{Max: 3}, []string{"0", "1", "2"}},
		{"after", archive.Query{Max: 3, After: ids[6], Known: []archive.ID{ids[6]}}, []string{"7", "8", "9"}},
		{"last two of bob", archive.Query{Max: 2, Last: true, With: jid.MustParse("bob@example.org")}, []string{"7", "9"}},
		{"before, flipped", archive.Query{Max: 3, Last: true, Before: ids[5], Known: []archive.ID{ids[5]}, Flip: true}, []string{"4", "3", "2"}},
		{"ids", archive.Query{Max: 5, IDs: []archive.ID{ids[8], ids[1]}, Known: []archive.ID{ids[8], ids[1]}}, []string{"1", "8"}},
		{"from the third second", archive.Query{Max: 100, Start: ids[2].Time(), End: ids[4].Time()}, []string{"2", "3", "4"}},
	}
	for _, tt := range tests {
		got, _, err := run(tt.q)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	forged := ids[3]
	forged.Tag++
	_, _, err = run(archive.Query{Max: 1, After: forged, Known: []archive.ID{forged}})
	var se *stanza.Error
	if !errors.As(err, &se) || se.Condition != stanza.ItemNotFound {
		t.Errorf("id with a wrong tag: %v, want item-not-found", err)
	}
	first, last, err := a.Bounds(owner)
	if err != nil || first != ids[0] || last != ids[9] {
		t.Errorf("Bounds = %v, %v, %v; want %v, %v", first, last, err, ids[0], ids[9])
	}
}
