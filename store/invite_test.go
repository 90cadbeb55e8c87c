package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func inviteHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func testInvite(token string) Invite {
	return Invite{
		Hash:     inviteHash(token),
		Created:  time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		Expires:  time.Date(2026, 1, 9, 3, 4, 5, 6, time.UTC),
		MaxUses:  2,
		Inviter:  "alice@example.org",
		Register: true,
	}
}

func TestInviteLifecycle(t *testing.T) {
	s, _ := openTest(t, testOptions())
	inv := testInvite("t1")
	inv.Admin, inv.Username = true, "bob"
	must(t, s.CreateInvite(inv))
	if err := s.CreateInvite(inv); !errors.Is(err, ErrExists) {
		t.Errorf("second CreateInvite = %v, want ErrExists", err)
	}
	got, found, err := s.Invite(inviteHash("t1"))
	if err != nil || !found {
		t.Fatalf("Invite(t1) = %v, %v; want found", found, err)
	}
	if diff := cmp.Diff(inv, got); diff != "" {
		t.Errorf("Invite(t1) mismatch (-want +got):\n%s", diff)
	}
	if _, found, err := s.Invite(inviteHash("forged")); found || err != nil {
		t.Errorf("Invite(forged) = %v, %v; want not found", found, err)
	}
	if _, found, err := s.Invite([]byte("short")); found || err != nil {
		t.Errorf("Invite(short hash) = %v, %v; want not found", found, err)
	}

	// Two uses, then the invitation is gone.
	use := func(inv *Invite) (bool, error) {
		inv.Used++
		return inv.Used < inv.MaxUses, nil
	}
	must(t, s.UpdateInvite(inviteHash("t1"), use))
	got, _, _ = s.Invite(inviteHash("t1"))
	if got.Used != 1 {
		t.Errorf("after one use Used = %d, want 1", got.Used)
	}
	refuse := errors.New("refused")
	if err := s.UpdateInvite(inviteHash("t1"), func(*Invite) (bool, error) { return true, refuse }); !errors.Is(err, refuse) {
		t.Errorf("UpdateInvite(refusing fn) = %v, want the fn's error", err)
	}
	must(t, s.UpdateInvite(inviteHash("t1"), use))
	if _, found, _ := s.Invite(inviteHash("t1")); found {
		t.Error("used-up invitation still stored")
	}
	if err := s.UpdateInvite(inviteHash("t1"), use); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateInvite(gone) = %v, want ErrNotFound", err)
	}
}

func TestInviteInvalid(t *testing.T) {
	s, _ := openTest(t, testOptions())
	tests := []struct {
		name string
		edit func(*Invite)
	}{
		{"short hash", func(i *Invite) { i.Hash = i.Hash[:10] }},
		{"no uses", func(i *Invite) { i.MaxUses = 0 }},
		{"used beyond max", func(i *Invite) { i.Used = 3 }},
		{"negative used", func(i *Invite) { i.Used = -1 }},
	}
	for _, tc := range tests {
		inv := testInvite(tc.name)
		tc.edit(&inv)
		if err := s.CreateInvite(inv); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: CreateInvite = %v, want ErrInvalid", tc.name, err)
		}
	}
}

func TestInvitesListDeleteExpire(t *testing.T) {
	s, _ := openTest(t, testOptions())
	early, late := testInvite("early"), testInvite("late")
	late.Expires = late.Expires.Add(24 * time.Hour)
	must(t, s.CreateInvite(early))
	must(t, s.CreateInvite(late))
	list := func() []string {
		var out []string
		must(t, s.Invites(func(inv Invite) error {
			out = append(out, inv.Expires.Format(time.DateOnly))
			return nil
		}))
		return out
	}
	if got := len(list()); got != 2 {
		t.Fatalf("Invites lists %d, want 2", got)
	}
	n, err := s.DeleteExpiredInvites(early.Expires.Add(time.Second))
	if err != nil || n != 1 {
		t.Errorf("DeleteExpiredInvites = %d, %v; want 1", n, err)
	}
	if diff := cmp.Diff([]string{"2026-01-10"}, list()); diff != "" {
		t.Errorf("after expiry (-want +got):\n%s", diff)
	}
	if n, err := s.DeleteInvites(nil); n != 0 || err != nil {
		t.Errorf("DeleteInvites(empty prefix) = %d, %v; want 0", n, err)
	}
	if n, err := s.DeleteInvites(late.Hash[:5]); n != 1 || err != nil {
		t.Errorf("DeleteInvites(ID) = %d, %v; want 1", n, err)
	}
	if got := list(); len(got) != 0 {
		t.Errorf("after revoke: %v, want none", got)
	}
}

func TestAdminRole(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice", "bob", "carol")
	if err := s.SetAdmin("nobody", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetAdmin(nobody) = %v, want ErrNotFound", err)
	}
	must(t, s.SetAdmin("carol", true))
	must(t, s.SetAdmin("alice", true))
	must(t, s.SetAdmin("alice", true))
	admins := func() []string {
		out := []string{}
		must(t, s.Admins(func(u string) error { out = append(out, u); return nil }))
		return out
	}
	if diff := cmp.Diff([]string{"alice", "carol"}, admins()); diff != "" {
		t.Errorf("Admins (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		user string
		want bool
	}{{"alice", true}, {"bob", false}, {"nobody", false}} {
		if got, err := s.IsAdmin(tc.user); got != tc.want || err != nil {
			t.Errorf("IsAdmin(%s) = %v, %v; want %v", tc.user, got, err, tc.want)
		}
	}
	must(t, s.SetAdmin("alice", false))
	if diff := cmp.Diff([]string{"carol"}, admins()); diff != "" {
		t.Errorf("after revoking alice (-want +got):\n%s", diff)
	}
	// The role goes with the account.
	if _, err := s.DeleteAccount("carol"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "carol")
	if got, _ := s.IsAdmin("carol"); got {
		t.Error("a recreated account inherited the admin role")
	}
}

// FuzzDecodeInvite checks that the invitation decoder never panics, fails
// only with ErrCorrupt, and accepts only canonical records.
func FuzzDecodeInvite(f *testing.F) {
	inv := testInvite("seed")
	f.Add(encodeInvite(inv))
	inv.Admin, inv.Username, inv.Inviter = true, "bob", ""
	f.Add(encodeInvite(inv))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		hash := inviteHash("k")
		inv, err := decodeInvite(hash, b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeInvite(%x) = %v, want ErrCorrupt", b, err)
			}
			return
		}
		again := encodeInvite(inv)
		if !bytes.Equal(again, b) {
			t.Fatalf("encode(decode(%x)) = %x", b, again)
		}
		inv2, err := decodeInvite(hash, again)
		if err != nil {
			t.Fatalf("decode(encode(decode(%x))) = %v", b, err)
		}
		if diff := cmp.Diff(inv, inv2); diff != "" {
			t.Fatalf("second decode differs (-first +second):\n%s", diff)
		}
	})
}
