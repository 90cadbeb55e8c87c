package server

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/net/idna"

	"roost/config"
	"roost/module"
	"roost/module/upload"
	"roost/store"
)

// newUpload builds file sharing (XEP-0363) from [upload], or nothing when
// it is off.
func (w *wiring) newUpload() (module.Module, error) {
	cfg := w.s.cfg
	u := cfg.Upload
	if !u.Enabled {
		return nil, nil
	}
	base, err := w.s.uploadBaseURLs()
	if err != nil {
		return nil, err
	}
	secret, err := w.s.secret("secret/upload")
	if err != nil {
		return nil, err
	}
	m, err := upload.New(upload.Options{
		Domains:         cfg.Domains,
		BaseURL:         base,
		Store:           uploadStore{w.s.store},
		Dir:             UploadDir(cfg),
		Secret:          secret,
		MaxFileSize:     int64(u.MaxFileSize),
		UserQuota:       int64(u.UserQuota),
		TotalQuota:      int64(u.TotalQuota),
		KeepFree:        int64(u.KeepFree),
		ExpireAfter:     u.ExpireAfter,
		SlotTimeout:     u.SlotTimeout,
		MaxConcurrent:   u.MaxConcurrent,
		TransferTimeout: u.TransferTimeout,
		MinRate:         int64(u.MinRate),
		Logger:          w.logger("upload"),
	})
	if err != nil {
		return nil, err
	}
	w.s.upload = m
	return m, nil
}

// uploadBaseURLs returns, per account domain, the start of upload links:
// [upload] public_url when set, else [https] public_url when set; otherwise https://upload.<domain>, or
// https://localhost for the domain localhost (glibc's resolver, which
// Python and most non-browser clients use, resolves no name below
// localhost without systemd's nss-myhostname), with the HTTPS listener's
// port unless it is 443. The listener is bound here, so that its real
// port (systemd's socket, or port 0 in tests) is the one in the links.
func (s *Server) uploadBaseURLs() (map[string]string, error) {
	cfg := s.cfg
	out := make(map[string]string, len(cfg.Domains))
	// A router forwarding 443 to the web port serves uploads too: the
	// files are sandboxed (module/upload), so sharing the console's
	// origin is safe, and the parent who set [https] public_url need not
	// learn a second setting.
	if public := cmp.Or(cfg.Upload.PublicURL, cfg.HTTPS.PublicURL); public != "" {
		for _, d := range cfg.Domains {
			out[d] = strings.TrimSuffix(public, "/")
		}
		return out, nil
	}
	lns, err := s.listen(ListenHTTPS, cfg.HTTPS.Listen)
	if err != nil {
		return nil, err
	}
	if len(lns) == 0 {
		return nil, errors.New("upload: nothing listens for HTTPS (https.listen is empty): set it, or [upload] enabled = false")
	}
	port := ""
	for i, ln := range lns {
		_, p, err := net.SplitHostPort(ln.Addr().String())
		if err != nil {
			return nil, fmt.Errorf("upload: HTTPS listener %s: %w", ln.Addr(), err)
		}
		if i == 0 || p == "443" {
			port = p
		}
	}
	suffix := ":" + port
	if port == "443" {
		suffix = ""
	}
	for _, d := range cfg.Domains {
		host := config.UploadLabel + "." + d
		if d == "localhost" {
			host = d
		}
		// A URL names the host in its ASCII form (RFC 3986 §3.2.2).
		ascii, err := idna.Lookup.ToASCII(host)
		if err != nil {
			return nil, fmt.Errorf("upload: host %s: %w", host, err)
		}
		out[d] = "https://" + ascii + suffix
	}
	return out, nil
}

// uploadStore adapts the store's upload records to the module's: the
// two record types have the same fields, so one converts into the other.
type uploadStore struct{ st *store.Store }

func (a uploadStore) Reserve(f upload.File, userQuota, totalQuota int64) error {
	err := a.st.ReserveUpload(store.Upload(f), store.UploadQuota{User: userQuota, Total: totalQuota})
	var qe *store.QuotaError
	if errors.As(err, &qe) {
		return &upload.QuotaError{Total: qe.Total, Used: qe.Used, Limit: qe.Limit}
	}
	return err
}

func (a uploadStore) File(id string) (upload.File, bool, error) {
	u, found, err := a.st.Upload(id)
	return upload.File(u), found, err
}

func (a uploadStore) Exists(id string) (exists, complete bool, err error) {
	u, found, err := a.st.Upload(id)
	return found, u.Complete, err
}

func (a uploadStore) Complete(id string, expires time.Time) error {
	err := a.st.CompleteUpload(id, expires)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %w", upload.ErrGone, err)
	}
	return err
}

func (a uploadStore) Delete(id string) error {
	_, err := a.st.DeleteUpload(id)
	return err
}

func (a uploadStore) Expired(now time.Time, limit int) ([]upload.File, error) {
	us, err := a.st.ExpiredUploads(now, limit)
	out := make([]upload.File, len(us))
	for i, u := range us {
		out[i] = upload.File(u)
	}
	return out, err
}
