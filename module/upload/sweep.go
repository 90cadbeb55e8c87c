package upload

import (
	"context"
	"fmt"
	"time"
)

// sweepBatch is how many due records one store read returns.
const sweepBatch = 100

// runSweeper is the module's background job. At start it tidies the
// directory (tidy), then every sweepInterval it deletes what is due
// (expire), and after an account deletion it tidies again. It returns when
// ctx is done.
func (m *Module) runSweeper(ctx context.Context) error {
	if err := m.tidy(); err != nil {
		m.log.Error("tidy the upload directory", "err", err)
	}
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		if err := m.expire(ctx); err != nil {
			m.log.Error("delete expired uploads", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-m.kick:
			if err := m.tidy(); err != nil {
				m.log.Error("tidy the upload directory", "err", err)
			}
		}
	}
}

// expire deletes the records due now, and their bodies: pending slots
// that lapsed, and complete files past their time. A slot whose PUT is in
// progress is left to it. The record goes first, so that nothing is served
// without its body; a body left by a crash in between is tidied later.
func (m *Module) expire(ctx context.Context) error {
	now := m.now()
	for ctx.Err() == nil {
		due, err := m.store.Expired(now, sweepBatch)
		if err != nil {
			return err
		}
		deleted := 0
		m.files.Lock()
		for _, f := range due {
			if m.active.busy(f.ID) {
				continue
			}
			if err := m.store.Delete(f.ID); err != nil {
				m.files.Unlock()
				return err
			}
			deleted++
			if f.Complete {
				if err := m.fs.Remove(f.ID); err != nil {
					m.log.Error("remove an expired upload", "err", err)
				}
			}
		}
		m.files.Unlock()
		if deleted > 0 {
			m.log.Info("deleted expired uploads", "count", deleted)
		}
		if len(due) < sweepBatch || deleted == 0 {
			return nil
		}
	}
	return nil
}

// tidy removes what the directory holds without a reason: temporary files
// of PUTs no longer running (left by a crash), and bodies whose record is
// gone or not complete (the account was deleted, or a crash came between
// the rename and the record). A body is only ever valid with a complete
// record, and a PUT in progress holds its slot in m.active until its
// record is complete, so the check cannot race with an upload.
func (m *Module) tidy() error {
	names, err := m.fs.Names()
	if err != nil {
		return fmt.Errorf("list uploads: %w", err)
	}
	m.files.Lock()
	defer m.files.Unlock()
	removed := 0
	for _, name := range names {
		id := name
		if isTemp(name) {
			id = name[len(tempPrefix):]
		} else if !ValidID(name) {
			continue // not ours
		}
		if m.active.busy(id) {
			continue
		}
		if !isTemp(name) {
			_, complete, err := m.store.Exists(id)
			if err != nil {
				return err
			}
			if complete {
				continue
			}
		}
		if err := m.fs.Remove(name); err != nil {
			m.log.Error("remove a stray upload file", "err", err)
			continue
		}
		removed++
	}
	if removed > 0 {
		m.log.Info("removed upload files without a record", "count", removed)
	}
	return nil
}
