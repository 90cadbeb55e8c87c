package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr error
		stderr  string
	}{
		{"no command", nil, errUsage, "usage: roostbench"},
		{"unknown command", []string{"bench"}, errUsage, "usage: roostbench"},
		{"help", []string{"msgs", "-h"}, flag.ErrHelp, "-pairs"},
		{"stray argument", []string{"logins", "extra"}, errUsage, ""},
		{"profiles without pprof", []string{"suite", "-profiles", "x"}, errUsage, ""},
		{"soak help", []string{"soak", "-h"}, flag.ErrHelp, "-max-rss-growth"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errOut)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(errOut.String(), tc.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", errOut.String(), tc.stderr)
			}
		})
	}
}

func TestRelayNeedsCertificate(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"relay", "-cert", "/nonexistent.pem", "-key", "/nonexistent.pem"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "load certificate") {
		t.Errorf("err = %v, want a certificate error", err)
	}
}

func TestNames(t *testing.T) {
	c := common{users: "user%03d", first: 7}
	got := strings.Join(c.names(3), ",")
	if want := "user007,user008,user009"; got != want {
		t.Errorf("names = %s, want %s", got, want)
	}
}
