package transfer

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"roost/archive"
	"roost/im"
	"roost/jid"
	"roost/module/muc"
	"roost/module/pep"
	"roost/portable"
	"roost/store"
	"roost/xmlstream"
)

// Sink is where an export goes: one document for every account, or one
// per account.
type Sink interface {
	// Begin returns the encoder for the account user@host.
	Begin(host, user string) (*portable.Encoder, error)
	// End finishes the account begun last.
	End() error
	// Close finishes the export. An export that failed is not closed,
	// and leaves nothing that looks complete.
	Close() error
}

// ExportOptions configure Export.
type ExportOptions struct {
	// Account is told about each account when it is written.
	Account func(AccountReport)
}

// Export writes every account of st to sink, each from one read
// transaction. Data it cannot write (a stored record that does not
// parse) is left out and reported with its account.
func Export(st *store.Store, sink Sink, opts ExportOptions) (Summary, error) {
	var users []string
	if err := st.Accounts(func(u string) error { users = append(users, u); return nil }); err != nil {
		return Summary{}, fmt.Errorf("export: %w", err)
	}
	var sum Summary
	for _, u := range users {
		rep, err := exportAccount(st, sink, u)
		if err != nil {
			return sum, fmt.Errorf("export %s: %w", u, err)
		}
		sum.add(&rep)
		if opts.Account != nil {
			opts.Account(rep)
		}
	}
	if err := exportRooms(st, sink, &sum); err != nil {
		return sum, fmt.Errorf("export: %w", err)
	}
	if err := sink.Close(); err != nil {
		return sum, fmt.Errorf("export: %w", err)
	}
	return sum, nil
}

// exportRooms writes the group chat rooms, each from the store's copy:
// configuration, subject and affiliations (roost's extension of
// XEP-0227). Their message archives stay behind, and the summary says
// so.
func exportRooms(st *store.Store, sink Sink, sum *Summary) error {
	logged := 0
	err := st.Rooms("", func(room string, rec []byte) error {
		j, err := jid.Parse(room)
		if err != nil || j.Local() == "" || j.Resource() != "" {
			sum.Notes = append(sum.Notes, fmt.Sprintf("not exported: room %.80q, which is not a room address", room))
			return nil
		}
		e, err := muc.ExportRoom(rec)
		if err != nil {
			sum.Notes = append(sum.Notes, fmt.Sprintf("not exported: room %s, which does not read back (%v)", room, err))
			return nil
		}
		enc, err := sink.Begin(j.Domain(), j.Local())
		if err != nil {
			return err
		}
		r := &portable.Room{Service: j.Domain(), Name: j.Local(), Config: e.Config, Subject: e.Subject, SubjectBy: e.SubjectBy,
			SubjectAt: e.SubjectAt, Created: e.Created, Salt: e.Salt}
		for _, a := range e.Affiliations {
			r.Affiliations = append(r.Affiliations, portable.RoomAffiliation(a))
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
		if a, err := st.ArchiveSummary(room); err == nil && a.Count > 0 {
			logged++
		}
		sum.Rooms++
		return sink.End()
	})
	if err != nil {
		return err
	}
	if logged > 0 {
		sum.Notes = append(sum.Notes, fmt.Sprintf("not exported: the message archives of %d group chat rooms (XEP-0227 carries an account's archive, not a room's; roost backup keeps them)", logged))
	}
	return nil
}

func exportAccount(st *store.Store, sink Sink, user string) (AccountReport, error) {
	rep := AccountReport{JID: user, Status: Moved}
	j, err := jid.Parse(user)
	if err != nil || j.Local() == "" {
		rep.Status = Skipped
		rep.note("not exported: %q is not an account address", user)
		return rep, nil
	}
	x := &exporter{sink: sink, rep: &rep, bare: j}
	found, err := st.ExportAccount(user, x.account, x.record)
	if err != nil {
		return rep, err
	}
	rep.finish()
	if !found { // deleted since it was listed
		rep.Status = Skipped
		rep.note("not exported: the account was deleted meanwhile")
		return rep, nil
	}
	if err := x.flushRequests(); err != nil {
		return rep, err
	}
	if err := x.enc.Encode(&portable.UserEnd{}); err != nil {
		return rep, err
	}
	return rep, sink.End()
}

// exporter turns one account's records into entries. It runs inside the
// store's read transaction: everything it keeps is copied (parsing
// copies).
type exporter struct {
	sink Sink
	enc  *portable.Encoder
	rep  *AccountReport
	bare jid.JID
	// requests wait until the roster query is written: XEP-0227 puts them
	// beside it, and readers take the first roster query only.
	requests []*portable.Request
}

func (x *exporter) account(a store.Account) error {
	enc, err := x.sink.Begin(x.bare.Domain(), x.bare.Local())
	if err != nil {
		return err
	}
	x.enc = enc
	u := &portable.User{Host: x.bare.Domain(), Name: x.bare.Local(), Created: a.Created}
	if err := x.enc.Encode(u); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(a.SCRAM)) {
		k := a.SCRAM[name]
		x.rep.Moved.Credentials++
		err := x.enc.Encode(&portable.Credential{Mechanism: "SCRAM-" + name, Iterations: k.Iterations,
			Salt: bytes.Clone(k.Salt), StoredKey: bytes.Clone(k.StoredKey), ServerKey: bytes.Clone(k.ServerKey)})
		if err != nil {
			return err
		}
	}
	return nil
}

// parse reads a stored XML value; generous bounds, as the features that
// wrote it read it back.
func parse(b []byte) (*xmlstream.Element, error) {
	return xmlstream.Parse(b, xmlstream.Limits{MaxStanzaBytes: len(b) + 128, MaxDepth: 1024, MaxAttrs: 1024})
}

func (x *exporter) record(r store.Record) error {
	if r.Kind != store.RecordRoster {
		if err := x.flushRequests(); err != nil {
			return err
		}
	}
	e, what, err := x.entry(r)
	if err != nil {
		x.rep.note("not exported: %s, which does not read back (%v)", what, err)
		return nil
	}
	if e == nil {
		return nil
	}
	return x.enc.Encode(e)
}

// entry converts a record; nil for one with nothing to write.
func (x *exporter) entry(r store.Record) (portable.Entry, string, error) {
	switch r.Kind {
	case store.RecordRoster:
		return x.rosterItem(r)
	case store.RecordVCard:
		el, err := parse(r.Value)
		x.rep.Moved.VCards++
		return &portable.VCard{Element: el}, "the vCard", err
	case store.RecordPrivate:
		el, err := parse(r.Value)
		x.rep.Moved.Private++
		return &portable.Private{Element: el}, "private XML " + r.Key, err
	case store.RecordLast:
		x.rep.Moved.Other++
		return &portable.LastActivity{Stamp: r.Time, Status: string(r.Value)}, "", nil
	case store.RecordArchivePrefs:
		el, err := parse(r.Value)
		x.rep.Moved.Other++
		return &portable.ArchivePrefs{Element: el}, "the archive preferences", err
	case store.RecordDoc:
		x.rep.Moved.Other++
		return &portable.Doc{Key: r.Key, Value: bytes.Clone(r.Value)}, "", nil
	case store.RecordBlock:
		x.rep.Moved.Blocked++
		return &portable.Blocked{JID: r.Key}, "", nil
	case store.RecordPEPNode:
		conf, affs, subs, err := pep.NodeForm(r.Value)
		if err != nil {
			return nil, "PEP node " + r.Key, err
		}
		n := &portable.PEPNode{Node: r.Key, Config: conf, Subscriptions: subs}
		for _, j := range slices.Sorted(maps.Keys(affs)) {
			n.Affiliations = append(n.Affiliations, portable.Affiliation{JID: j, Affiliation: affs[j]})
		}
		x.rep.Moved.PEPNodes++
		return n, "", nil
	case store.RecordPEPItem:
		it := &portable.PEPItem{Node: r.Key, ID: r.ID, Published: r.Time}
		var err error
		if len(r.Value) > 0 {
			it.Payload, err = parse(r.Value)
		}
		x.rep.Moved.PEPItems++
		return it, "PEP item " + r.ID + " of " + r.Key, err
	case store.RecordOffline:
		el, err := parse(r.Value)
		if err != nil {
			return nil, "an offline message", err
		}
		// XEP-0227 §4.4: with the time it was stored, from the server.
		delay := xmlstream.New(portable.NSDelay, "delay").SetAttr("from", x.bare.Domain()).
			SetAttr("stamp", portable.FormatStamp(r.Time)).AppendText("Offline Storage")
		x.rep.Moved.Offline++
		return &portable.Offline{Message: el.WithChildren(append(slices.Clip(el.Children), xmlstream.Node{Elem: delay}))}, "", nil
	case store.RecordArchive:
		el, err := parse(r.Value)
		x.rep.Moved.Archived++
		id := archive.ID{Seq: r.Ref.ID, Tag: r.Ref.Tag}
		return &portable.Archived{ID: id.String(), Stamp: r.Ref.Time(), Message: el, With: r.With, Resource: r.Resource}, "an archived message", err
	}
	return nil, fmt.Sprintf("a record of kind %d", r.Kind), fmt.Errorf("unknown kind")
}

func (x *exporter) rosterItem(r store.Record) (portable.Entry, string, error) {
	what := "roster item " + r.Key
	it, err := im.DecodeStoredItem(r.Value)
	if err != nil {
		return nil, what, err
	}
	if it.PendingIn {
		req := &portable.Request{From: r.Key}
		if p, err := parse(it.Request); err == nil && len(it.Request) > 0 {
			req.Presence = p
		} else {
			// The request as it would be asked again.
			req.Presence = xmlstream.New(xmlstream.NSClient, "presence").SetAttr("from", r.Key).
				SetAttr("to", x.bare.String()).SetAttr("type", "subscribe")
		}
		x.requests = append(x.requests, req)
		x.rep.Moved.Requests++
	}
	if !it.InRoster && it.Subscription == "none" && !it.Ask && !it.Approved {
		return nil, what, nil // only the request
	}
	out := &portable.RosterItem{JID: r.Key, Name: it.Name, Subscription: it.Subscription, Approved: it.Approved,
		Groups: slices.Clone(it.Groups), Hidden: !it.InRoster}
	if it.Ask {
		out.Ask = "subscribe"
	}
	if it.InRoster {
		x.rep.Moved.Contacts++
	}
	return out, what, nil
}

func (x *exporter) flushRequests() error {
	for _, r := range x.requests {
		if err := x.enc.Encode(r); err != nil {
			return err
		}
	}
	x.requests = x.requests[:0]
	return nil
}

// NewWriterSink returns a sink writing one document with every account
// to w.
func NewWriterSink(w io.Writer) Sink { return &writerSink{enc: portable.NewEncoder(w)} }

type writerSink struct{ enc *portable.Encoder }

func (s *writerSink) Begin(string, string) (*portable.Encoder, error) { return s.enc, nil }
func (s *writerSink) End() error                                      { return nil }
func (s *writerSink) Close() error                                    { return s.enc.Close() }

// NewDirSink returns a sink writing each account to dir/user@host.xml, a
// whole document, as Prosody's xep0227 driver lays its files out (so that
// Prosody can read a roost export too). Files are written to a temporary
// name, synced and renamed, with mode 0600: they hold credentials
// (XEP-0227 §6). dir is created if needed.
func NewDirSink(dir string) (Sink, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	return &dirSink{dir: dir}, nil
}

type dirSink struct {
	dir  string
	f    *os.File
	enc  *portable.Encoder
	name string
}

func (s *dirSink) Begin(host, user string) (*portable.Encoder, error) {
	s.name = filepath.Join(s.dir, user+"@"+host+".xml")
	f, err := os.OpenFile(s.name+".partial", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	s.f, s.enc = f, portable.NewEncoder(f)
	return s.enc, nil
}

func (s *dirSink) End() error {
	err := s.enc.Close()
	if err == nil {
		err = s.f.Sync()
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(s.name+".partial", s.name)
	}
	if err != nil {
		_ = os.Remove(s.name + ".partial") // the write error is the one to report
		return fmt.Errorf("write %s: %w", s.name, err)
	}
	return nil
}

func (s *dirSink) Close() error {
	d, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
