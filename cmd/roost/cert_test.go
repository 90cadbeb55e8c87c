package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roost/admin"
	"roost/config"
)

func TestCertStatusWhileStopped(t *testing.T) {
	cfgPath := writeConfig(t, "domains = [\"example.org\"]\nsubdomains = [\"muc\"]\ndata_dir = \"data\"\n[muc]\nenabled = false\n")
	dataDir := filepath.Join(filepath.Dir(cfgPath), "data")

	// Before the first start nothing is stored, and status creates nothing.
	out, _, err := roost(t, "", "cert", "status", "-config", cfgPath)
	if err != nil {
		t.Fatalf("cert status: %v", err)
	}
	for _, want := range []string{"roost is not running", "\nexample.org\n", "\nmuc.example.org\n", "certificate  none yet"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cert status created %s (stat: %v); it must write nothing", dataDir, err)
	}

	// A user add opens (and so creates) the data file; still no
	// certificate, since only the server makes the self-signed one.
	if _, _, err := roost(t, "password1\n", "user", "add", "alice", "-config", cfgPath); err != nil {
		t.Fatal(err)
	}
	out, _, err = roost(t, "", "cert", "status", "-json", "-config", cfgPath)
	if err != nil {
		t.Fatalf("cert status -json: %v", err)
	}
	var list []admin.CertStatus
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	// upload.example.org: file sharing is on by default.
	if len(list) != 3 || list[0].Name != "example.org" || list[1].Name != "upload.example.org" || list[2].Name != "muc.example.org" ||
		list[0].Source != "self-signed" || list[0].Issuer != "" {
		t.Errorf("got %+v, want example.org, upload.example.org and muc.example.org, self-signed, none stored", list)
	}
}

func TestCertStatusUsage(t *testing.T) {
	for _, args := range [][]string{{"cert"}, {"cert", "renew"}, {"cert", "status", "extra"}} {
		if _, _, err := roost(t, "", args...); !errors.Is(err, errUsage) {
			t.Errorf("roost %v: %v, want a usage error", args, err)
		}
	}
}

func TestPrintCertStatus(t *testing.T) {
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	acme := config.Default()
	acme.TLS.Source = config.SourceACME
	tests := []struct {
		name    string
		cfg     config.Config
		running bool
		list    []admin.CertStatus
		want    []string
		notWant []string
	}{
		{
			name: "acme certificate due for renewal later", cfg: acme, running: true,
			list: []admin.CertStatus{{
				Name: "d.example", Source: "acme", Issuer: "Pebble Intermediate CA 1234",
				NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(89 * 24 * time.Hour),
				Fingerprint: "ab01ff", FingerprintSHA1: "cd02ee", NextAttempt: now.Add(59 * 24 * time.Hour),
			}},
			want: []string{
				"roost is running",
				"\nd.example\n",
				"  source       ACME (obtained and renewed automatically)\n",
				"  issuer       Pebble Intermediate CA 1234\n",
				"  valid        2030-05-31 12:00 UTC to 2030-08-29 12:00 UTC (expires in 89 days)\n",
				"  fingerprint  SHA-256 AB:01:FF\n               SHA-1   CD:02:EE\n",
				"  renewal      2030-07-30 12:00 UTC, in 59 days\n",
			},
			notWant: []string{"last error", "advice"},
		},
		{
			name: "failing renewal", cfg: acme, running: true,
			list: []admin.CertStatus{{
				Name: "d.example", Source: "acme", Issuer: "R11",
				NotBefore: now.Add(-80 * 24 * time.Hour), NotAfter: now.Add(-time.Hour),
				NextAttempt: now.Add(10 * time.Minute),
				LastError:   "obtain certificate for d.example: connection refused", LastErrorAt: now.Add(-3 * time.Minute),
				Advice: "the ACME server cannot be reached",
			}},
			want: []string{
				"(EXPIRED 60 minutes ago)",
				"  next attempt 2030-06-01 12:10 UTC, in 10 minutes\n",
				"  last error   obtain certificate for d.example: connection refused (3 minutes ago)\n",
				"  advice       the ACME server cannot be reached\n",
			},
		},
		{
			name: "fallback before the first certificate", cfg: acme, running: false,
			list: []admin.CertStatus{{Name: "upload.d.example", Source: "self-signed", Fallback: true, NextAttempt: now}},
			want: []string{
				"roost is not running",
				"  source       self-signed (clients ask their users to trust it), until ACME (obtained and renewed automatically) has a certificate for it\n",
				"  certificate  none yet\n",
				"  next attempt now\n",
			},
			notWant: []string{"issuer", "fingerprint"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			printCertStatus(&b, tc.cfg, tc.list, tc.running, now)
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(b.String(), w) {
					t.Errorf("output has %q:\n%s", w, b.String())
				}
			}
		})
	}
}
