package mam

import (
	"context"
	"strings"
	"time"

	"roost/archive"
)

// sweep applies retention every SweepEvery until ctx is done.
func (m *MAM) sweep(ctx context.Context) error {
	return archive.Retain(ctx, m.opts.SweepEvery, m.trim, m.log)
}

// trim goes once through every archive and returns how many messages it
// deleted from the accounts' archives; rooms' archives are the group
// chat module's to trim.
func (m *MAM) trim(ctx context.Context) (int, error) {
	keepAfter := time.Time{}
	if m.opts.KeepFor > 0 {
		keepAfter = m.opts.Now().Add(-m.opts.KeepFor)
	}
	return archive.Sweep(ctx, m.opts.Trimmer, func(owner string) (time.Time, int64) {
		if !m.isAccount(owner) {
			return time.Time{}, 0 // a room's archive: not ours to trim
		}
		return keepAfter, m.opts.MaxSize
	})
}

// isAccount reports whether an archive's owner is an account: a bare JID
// at one of the account domains.
func (m *MAM) isAccount(owner string) bool {
	at := strings.LastIndexByte(owner, '@')
	return at > 0 && m.opts.Router.IsLocal(owner[at+1:])
}
