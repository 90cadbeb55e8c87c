package certs

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestFilesReload(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	pair, serial1 := ca.writePair(t, dir, "a", "a.example", "conference.a.example")
	m, err := New(Options{
		Domains: []string{"a.example"}, Subdomains: []string{"conference.a.example"},
		Source: SourceFiles, Files: []KeyPair{pair}, Cache: newMemCache(), Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, m, "conference.a.example"); got.Cmp(serial1) != 0 {
		t.Fatalf("served serial %v, want %v", got, serial1)
	}

	// A good new certificate is picked up by Reload.
	_, serial2 := ca.writePair(t, dir, "a", "a.example", "conference.a.example")
	if err := m.Reload(); err != nil {
		t.Fatalf("Reload with good files: %v", err)
	}
	if got := servedSerial(t, m, ""); got.Cmp(serial2) != 0 {
		t.Fatalf("after Reload served serial %v, want %v", got, serial2)
	}

	// Bad files keep the previous certificate and report the error.
	badCases := []struct {
		name    string
		cert    []byte
		key     []byte
		wantErr error
	}{
		{"garbage certificate", []byte("garbage"), nil, ErrBadKeyPair},
		{"key of another certificate", nil, []byte("other"), ErrBadKeyPair},
		{"truncated certificate", []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), nil, ErrBadKeyPair},
	}
	origCert, _ := os.ReadFile(pair.CertFile)
	origKey, _ := os.ReadFile(pair.KeyFile)
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			certPEM, keyPEM := origCert, origKey
			if tc.cert != nil {
				certPEM = tc.cert
			}
			if tc.key != nil {
				_, otherKey, _ := ca.issue(t, time.Now().Add(time.Hour), "a.example")
				keyPEM = otherKey
			}
			writeFile(t, pair.CertFile, certPEM)
			writeFile(t, pair.KeyFile, keyPEM)
			err := m.Reload()
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Reload = %v, want %v", err, tc.wantErr)
			}
			if got := servedSerial(t, m, "a.example"); got.Cmp(serial2) != 0 {
				t.Errorf("after a bad reload served serial %v, want the previous %v", got, serial2)
			}
			st := statusOf(t, m, "a.example")
			if st.Source != SourceFiles || st.LastError == "" || !strings.Contains(st.Advice, "still served") {
				t.Errorf("Status = %+v; want files source with LastError and advice", st)
			}
		})
	}

	// Fixing the files clears the error.
	writeFile(t, pair.CertFile, origCert)
	writeFile(t, pair.KeyFile, origKey)
	if err := m.Reload(); err != nil {
		t.Fatalf("Reload after fixing: %v", err)
	}
	if st := statusOf(t, m, "a.example"); st.LastError != "" || st.Advice != "" {
		t.Errorf("Status after fixing = %+v, want no error or advice", st)
	}
}

func TestFilesWatchedByRun(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	pair, _ := ca.writePair(t, dir, "a", "a.example")
	m, err := New(Options{Domains: []string{"a.example"}, Source: SourceFiles, Files: []KeyPair{pair},
		Cache: newMemCache(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	m.pollInterval = 10 * time.Millisecond
	runManager(t, m)

	_, serial2 := ca.writePair(t, dir, "a", "a.example")
	waitFor(t, 10*time.Second, "the rewritten certificate file to be served", func() bool {
		return servedSerial(t, m, "a.example").Cmp(serial2) == 0
	})

	// A bad rewrite is reported once and the previous certificate stays.
	writeFile(t, pair.CertFile, []byte("oops"))
	waitFor(t, 10*time.Second, "the bad file to be reported", func() bool {
		return statusOf(t, m, "a.example").LastError != ""
	})
	if got := servedSerial(t, m, "a.example"); got.Cmp(serial2) != 0 {
		t.Errorf("after a bad rewrite served serial %v, want %v", got, serial2)
	}

	// A removed file is a failed reload too.
	if err := os.Remove(pair.KeyFile); err != nil {
		t.Fatal(err)
	}
	_, serial3 := ca.writePair(t, dir, "a", "a.example")
	waitFor(t, 10*time.Second, "the repaired files to be served", func() bool {
		return servedSerial(t, m, "a.example").Cmp(serial3) == 0 && statusOf(t, m, "a.example").LastError == ""
	})
}

func TestFilesExpiredReported(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	pair, serial := ca.writePair(t, dir, "a", "a.example")
	clock := &fakeClock{}
	clock.Advance(48 * time.Hour)
	m, err := New(Options{Domains: []string{"a.example"}, Source: SourceFiles, Files: []KeyPair{pair},
		Cache: newMemCache(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, m, ""); got.Cmp(serial) != 0 {
		t.Errorf("served %v, want the expired file certificate %v (the admin's choice)", got, serial)
	}
	st := statusOf(t, m, "a.example")
	if !strings.Contains(st.LastError, ErrExpired.Error()) || !strings.Contains(st.Advice, pair.CertFile) {
		t.Errorf("Status = %+v; want LastError %q and advice naming the file", st, ErrExpired)
	}
}
