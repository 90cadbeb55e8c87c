package store

import (
	"errors"
	"testing"
	"time"
)

func TestLastActivity(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice")
	if _, _, found, err := s.LastActivity("alice"); found || err != nil {
		t.Errorf("LastActivity before any = found %t, %v; want not found", found, err)
	}
	tests := []struct {
		name   string
		at     time.Time
		status string
	}{
		{"plain", time.Date(2025, 2, 3, 4, 5, 6, 7, time.UTC), "Gone fishing"},
		{"empty status", time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC), ""},
		{"unicode status, other zone", time.Date(2025, 2, 3, 4, 5, 6, 0, time.FixedZone("CET", 3600)), "Schlafen 😴"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			must(t, s.SetLastActivity("alice", tt.at, tt.status))
			at, status, found, err := s.LastActivity("alice")
			if err != nil || !found || !at.Equal(tt.at) || status != tt.status {
				t.Errorf("LastActivity = %v, %q, %t, %v; want %v, %q, true", at, status, found, err, tt.at, tt.status)
			}
		})
	}
	if err := s.SetLastActivity("nobody", time.Now(), ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetLastActivity(nobody) = %v, want ErrNotFound", err)
	}
}

func TestSetLastActivities(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice", "bob")
	at := time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)
	must(t, s.SetLastActivities([]LastActivity{
		{User: "alice", At: at, Status: "bye"},
		{User: "bob", At: at.Add(time.Minute)},
		{User: "deleted-meanwhile", At: at},
	}))
	for _, want := range []LastActivity{{"alice", at, "bye"}, {"bob", at.Add(time.Minute), ""}} {
		got, status, found, err := s.LastActivity(want.User)
		if err != nil || !found || !got.Equal(want.At) || status != want.Status {
			t.Errorf("LastActivity(%s) = %v, %q, %t, %v; want %v, %q", want.User, got, status, found, err, want.At, want.Status)
		}
	}
	if _, _, found, _ := s.LastActivity("deleted-meanwhile"); found {
		t.Error("a logout of an account that does not exist was stored")
	}
	if err := s.SetLastActivities([]LastActivity{{User: "a\x00b"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a bad user name: %v, want ErrInvalid", err)
	}
}
