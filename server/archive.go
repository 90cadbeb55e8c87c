package server

import (
	"errors"
	"time"

	"roost/archive"
	"roost/store"
)

// archiveCommitEvery is how often queued archive records are committed
// when nothing asks sooner (a stream management acknowledgement, a
// query, 512 queued): the most a message archived for a client without
// stream management can be lost by a crash, and on an SD card a bound
// on commits (each two fsyncs) per second.
const archiveCommitEvery = 200 * time.Millisecond

// archiveStore adapts the store to archive.Store, for the archives of
// accounts (module/mam) and of rooms (module/muc) alike.
type archiveStore struct {
	st  *store.Store
	now func() time.Time
}

func newArchiveStore(st *store.Store) archiveStore { return archiveStore{st: st, now: time.Now} }

// Append implements archive.Store.
func (a archiveStore) Append(owner string, account bool, with, resource string, stanza []byte) (archive.ID, error) {
	ref, err := a.st.AppendArchive(store.ArchiveRecord{Owner: owner, Account: account, With: with, Resource: resource, Stanza: stanza}, a.now())
	return archive.ID{Seq: ref.ID, Tag: ref.Tag}, err
}

// Page implements archive.Store.
func (a archiveStore) Page(owner string, r archive.Range) ([]archive.Item, bool, error) {
	q := store.ArchiveQuery{With: r.With, Resource: r.Resource, After: r.After, Before: r.Before,
		First: r.First, Last: r.Last, IDs: r.IDs, Max: r.Max, Reverse: r.Reverse}
	if len(r.Known) > 0 {
		q.Check = make([]store.ArchiveRef, len(r.Known))
		for i, id := range r.Known {
			q.Check[i] = store.ArchiveRef{ID: id.Seq, Tag: id.Tag}
		}
	}
	items, complete, err := a.st.ArchivePage(owner, q)
	if errors.Is(err, store.ErrUnknownArchiveID) {
		return nil, false, errors.Join(archive.ErrUnknownID, err)
	}
	if err != nil {
		return nil, false, err
	}
	out := make([]archive.Item, len(items))
	for i, it := range items {
		out[i] = archive.Item{ID: archive.ID{Seq: it.ID, Tag: it.Tag}, With: it.With, Resource: it.Resource, Stanza: it.Stanza}
	}
	return out, complete, nil
}

// Bounds implements archive.Store.
func (a archiveStore) Bounds(owner string) (first, last archive.ID, err error) {
	sum, err := a.st.ArchiveSummary(owner)
	if err != nil {
		return archive.ID{}, archive.ID{}, err
	}
	return archive.ID{Seq: sum.First.ID, Tag: sum.First.Tag}, archive.ID{Seq: sum.Last.ID, Tag: sum.Last.Tag}, nil
}
