package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"roost/admin"
	"roost/config"
	"roost/server"
	"roost/store"
)

// cmdCert runs `roost cert status`: the certificate of every configured
// name, from the running server (what it serves now, with the state of
// renewals) or, while it is stopped, from the data file and the
// certificate files.
func cmdCert(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := newCommand("cert", stderr)
	asJSON := cmd.fs.Bool("json", false, "print JSON (the admin protocol's CertStatus list)")
	_, cfg, err := cmd.load(args, func(pos []string) bool { return len(pos) == 1 && pos[0] == "status" })
	if err != nil {
		return err
	}
	list, running, err := certStatus(ctx, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	printCertStatus(stdout, cfg, list, running, time.Now())
	return nil
}

// certStatus asks the running server, or inspects the stopped server's
// data without writing to it.
func certStatus(ctx context.Context, cfg config.Config) (list []admin.CertStatus, running bool, err error) {
	err = withData(cfg, false, func(c admin.Client) (err error) {
		running = true
		list, err = c.CertStatus(ctx)
		return err
	}, func(st *store.Store) (err error) {
		if st == nil {
			// Before the first start: report the files and what is
			// missing, without creating a data file.
			list, err = server.InspectCerts(cfg, emptyCache{})
			return err
		}
		list, err = server.InspectCerts(cfg, st)
		return err
	})
	return list, running, err
}

// emptyCache is the certificate cache of a server that never ran.
type emptyCache struct{}

func (emptyCache) Blob(string) ([]byte, bool, error) { return nil, false, nil }
func (emptyCache) PutBlob(string, []byte) error      { return errors.New("read-only") }
func (emptyCache) DeleteBlob(string) error           { return errors.New("read-only") }

// sourceWords explains a certificate source.
var sourceWords = map[string]string{
	"acme":        "ACME (obtained and renewed automatically)",
	"files":       "certificate files",
	"self-signed": "self-signed (clients ask their users to trust it)",
}

// printCertStatus writes one block per name, in plain words.
func printCertStatus(w io.Writer, cfg config.Config, list []admin.CertStatus, running bool, now time.Time) {
	if running {
		fmt.Fprintln(w, "roost is running; these are the certificates it serves now.")
	} else {
		fmt.Fprintln(w, "roost is not running; this is what it would serve, from its data file and certificate files.")
	}
	for _, c := range list {
		fmt.Fprintf(w, "\n%s\n", c.Name)
		src := sourceWords[c.Source]
		if src == "" {
			src = c.Source
		}
		if c.Fallback {
			src += fmt.Sprintf(", until %s has a certificate for it", sourceWords[string(cfg.TLS.Source)])
		}
		line(w, "source", src)
		if c.Issuer != "" {
			line(w, "issuer", c.Issuer)
			line(w, "valid", fmt.Sprintf("%s to %s (%s)", stamp(c.NotBefore), stamp(c.NotAfter), expiry(c.NotAfter, now)))
			if c.Fingerprint != "" {
				line(w, "fingerprint", "SHA-256 "+colonHex(c.Fingerprint))
			}
			if c.FingerprintSHA1 != "" {
				line(w, "", "SHA-1   "+colonHex(c.FingerprintSHA1))
			}
		} else {
			line(w, "certificate", "none yet")
		}
		if !c.NextAttempt.IsZero() {
			what := "renewal"
			if c.LastError != "" || c.Fallback {
				what = "next attempt"
			}
			line(w, what, when(c.NextAttempt, now))
		}
		if c.LastError != "" {
			e := c.LastError
			if !c.LastErrorAt.IsZero() {
				e += " (" + ago(c.LastErrorAt, now) + ")"
			}
			line(w, "last error", e)
		}
		if c.Advice != "" {
			line(w, "advice", c.Advice)
		}
	}
}

func line(w io.Writer, label, text string) {
	fmt.Fprintf(w, "  %-12s %s\n", label, text)
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// expiry says how long a certificate has left, or that it expired.
func expiry(notAfter, now time.Time) string {
	d := notAfter.Sub(now)
	if d <= 0 {
		return "EXPIRED " + span(-d) + " ago"
	}
	return "expires in " + span(d)
}

func when(t, now time.Time) string {
	if t.Sub(now) < time.Second {
		return "now"
	}
	return stamp(t) + ", in " + span(t.Sub(now))
}

func ago(t, now time.Time) string {
	if d := now.Sub(t); d > 0 {
		return span(d) + " ago"
	}
	return "just now"
}

// span renders a duration in the largest unit that fits.
func span(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= 48*time.Hour:
		return plural(int64(d/(24*time.Hour)), "day")
	case d >= 2*time.Hour:
		return plural(int64(d/time.Hour), "hour")
	case d >= 2*time.Minute:
		return plural(int64(d/time.Minute), "minute")
	default:
		return plural(int64(d/time.Second), "second")
	}
}

// colonHex writes a hex fingerprint the way clients show it: AB:CD:...
func colonHex(h string) string {
	h = strings.ToUpper(h)
	var b strings.Builder
	for i := 0; i+1 < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}
