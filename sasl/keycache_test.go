package sasl_test

import (
	"context"
	"testing"

	"roost/sasl"
)

// TestKeyCache logs in through one cache several times: every exchange
// must succeed and verify the server, and the cache must hold one key set
// per user, password and hash, a wrong password included (its keys are
// derived, and then refused by the server).
func TestKeyCache(t *testing.T) {
	st := newStore(t)
	var kc sasl.KeyCache
	steps := []struct {
		name, mech, user, pass string
		wantOK                 bool
		wantLen                int
	}{
		{"first login derives", sasl.SCRAMSHA256, "juliet", "r0m30myr0m30", true, 1},
		{"second login hits", sasl.SCRAMSHA256, "juliet", "r0m30myr0m30", true, 1},
		{"other hash", sasl.SCRAMSHA1, "juliet", "r0m30myr0m30", true, 2},
		{"other user", sasl.SCRAMSHA1, "romeo", "capulet", true, 3},
		{"wrong password", sasl.SCRAMSHA256, "juliet", "wrong", false, 4},
		{"right password still hits", sasl.SCRAMSHA256, "juliet", "r0m30myr0m30", true, 4},
		{"plain leaves the cache alone", sasl.Plain, "juliet", "r0m30myr0m30", true, 4},
	}
	for _, s := range steps {
		srv, err := sasl.NewServer(s.mech, serverOptions(st, sasl.ChannelBinding{}, false))
		if err != nil {
			t.Fatal(err)
		}
		cl, err := sasl.NewClient(s.mech, s.user, s.pass, sasl.ChannelBinding{})
		if err != nil {
			t.Fatal(err)
		}
		cl.SetKeyCache(&kc)
		serr, cerr := exchange(context.Background(), cl, srv)
		if ok := serr == nil && cerr == nil; ok != s.wantOK {
			t.Errorf("%s: server %v, client %v; want success %t", s.name, serr, cerr, s.wantOK)
		}
		if s.wantOK && s.mech != sasl.Plain && !cl.Verified() {
			t.Errorf("%s: server not verified", s.name)
		}
		if got := kc.Len(); got != s.wantLen {
			t.Errorf("%s: cache holds %d key sets, want %d", s.name, got, s.wantLen)
		}
	}
}
