package certs

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"time"
)

// fileState is one configured KeyPair: the last certificate that loaded and
// the last load error. It is guarded by Manager.mu.
type fileState struct {
	pair KeyPair
	cert *tls.Certificate // last good; nil only before the first load
	err  error            // last load error, nil after a success

	// Stamps of the files when last loaded or tried, so that polling reloads
	// only on change and reports a bad file once, not every poll.
	certStamp, keyStamp fileStamp
}

// fileStamp identifies a version of a file cheaply.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// load reads and parses the pair. On failure the previous certificate, if
// any, stays in fs.cert and the error is kept in fs.err and returned.
func (fs *fileState) load() error {
	fs.certStamp, _ = stampOf(fs.pair.CertFile)
	fs.keyStamp, _ = stampOf(fs.pair.KeyFile)
	c, err := loadKeyPair(fs.pair)
	fs.err = err
	if err != nil {
		return err
	}
	fs.cert = c
	return nil
}

// changed reports whether either file's stamp differs from the last load.
func (fs *fileState) changed() bool {
	cs, cerr := stampOf(fs.pair.CertFile)
	ks, kerr := stampOf(fs.pair.KeyFile)
	if cerr != nil || kerr != nil {
		// A file that vanished is a change worth one reload attempt, which
		// records the error; the zero stamp then matches until it returns.
		return cs != fs.certStamp || ks != fs.keyStamp
	}
	return !cs.mod.Equal(fs.certStamp.mod) || cs.size != fs.certStamp.size ||
		!ks.mod.Equal(fs.keyStamp.mod) || ks.size != fs.keyStamp.size
}

// loadKeyPair reads one KeyPair.
func loadKeyPair(p KeyPair) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(p.CertFile)
	if err != nil {
		return nil, fmt.Errorf("read certificate file: %w", err)
	}
	keyPEM, err := os.ReadFile(p.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	c, err := parseKeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", p.CertFile, err)
	}
	return c, nil
}

// reloadFilesLocked reloads the pairs: all of them when force is set
// (Reload), else those whose files changed (polling). It logs each outcome
// and returns the failures joined. The caller holds m.mu and publishes.
func (m *Manager) reloadFilesLocked(force bool) error {
	var errs []error
	for _, fs := range m.files {
		if !force && !fs.changed() {
			continue
		}
		if err := fs.load(); err != nil {
			errs = append(errs, err)
			if fs.cert != nil {
				m.log.Warn("certificate file did not load, keeping the previous certificate", "file", fs.pair.CertFile, "err", err)
			} else {
				m.log.Warn("certificate file did not load", "file", fs.pair.CertFile, "err", err)
			}
			continue
		}
		m.log.Info("loaded certificate file", "file", fs.pair.CertFile, "names", fs.cert.Leaf.DNSNames, "not_after", fs.cert.Leaf.NotAfter)
	}
	return errors.Join(errs...)
}

// fillFromFiles makes s serve the first loaded pair covering it, or the
// self-signed fallback.
func (m *Manager) fillFromFiles(s *served, now time.Time) {
	for _, fs := range m.files {
		if fs.cert == nil || fs.cert.Leaf.VerifyHostname(s.name) != nil {
			continue
		}
		s.cert = fs.cert
		s.source = SourceFiles
		if fs.err != nil {
			s.lastErr = fs.err.Error()
			s.advice = "fix " + fs.pair.CertFile + " or " + fs.pair.KeyFile + " and reload; the previously loaded certificate is still served"
		}
		checkExpiry(s, now, "replace "+fs.pair.CertFile+" with a current certificate")
		return
	}
	m.fillSelfSigned(s, true, "a certificate file covers "+s.name+": add the name to a certificate or configure another cert/key pair")
	if s.lastErr != "" {
		return
	}
	s.lastErr = fmt.Errorf("serve %s: %w", s.name, ErrNotCovered).Error()
	for _, fs := range m.files {
		if fs.cert == nil && fs.err != nil {
			// A pair that never loaded (only in Inspect) may be the one
			// meant for this name: its error says more.
			s.lastErr = fs.err.Error()
			s.advice = "fix " + fs.pair.CertFile + " or " + fs.pair.KeyFile + "; " + s.advice
			return
		}
	}
}
