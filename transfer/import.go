package transfer

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"roost/archive"
	"roost/im"
	"roost/jid"
	"roost/module/muc"
	"roost/module/pep"
	"roost/module/private"
	"roost/module/vcard"
	"roost/portable"
	"roost/sasl"
	"roost/store"
	"roost/xmlstream"
)

// ImportOptions configure Import.
type ImportOptions struct {
	// Domains are the domains this roost serves; accounts of others are
	// skipped.
	Domains []string
	// RoomServices are the domains of this roost's group chat service
	// (conference.<domain>); rooms of others are skipped.
	RoomServices []string
	// Overwrite replaces existing accounts and rooms instead of refusing
	// them.
	Overwrite bool
	// DryRun reads and checks everything and writes nothing; the store
	// may be nil (no data file yet).
	DryRun bool
	// BatchBytes is store.ImportOptions.BatchBytes.
	BatchBytes int
	// Now stamps what the document does not date (offline messages
	// without a delay, PEP items). Nil means time.Now.
	Now func() time.Time
	// Rand makes the random tags of archive identifiers. Nil means
	// crypto/rand.
	Rand io.Reader
	// Account is told about each account when it is done.
	Account func(AccountReport)
}

// Source reads a document, calling fn with each entry, as
// portable.Decode does.
type Source func(fn func(portable.Entry) error) error

// Import reads the accounts src yields into st. It returns when src is
// read, or at the first error that is not an account's own (a document
// that ends early or is not XML, a store that fails): accounts finished
// before it stay imported, the one being read is dropped.
func Import(st *store.Store, src Source, opts ImportOptions) (Summary, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	imp := &importer{st: st, opts: opts, domains: map[string]bool{}, services: map[string]bool{}, seen: map[string]bool{}, now: opts.Now().UTC()}
	for _, d := range opts.Domains {
		if dom, err := jid.ParseDomain(d); err == nil {
			imp.domains[dom] = true
		}
	}
	for _, d := range opts.RoomServices {
		if dom, err := jid.ParseDomain(d); err == nil {
			imp.services[dom] = true
		}
	}
	err := src(imp.entry)
	if imp.cur != nil {
		// The document ended, or failed, inside an account.
		imp.cur.abort()
		if imp.cur.rep.Status != Failed {
			imp.cur.rep.Status = Failed
			imp.cur.rep.note("not imported: the document stops inside this account")
		}
		imp.done()
	}
	return imp.sum, err
}

type importer struct {
	st      *store.Store
	opts    ImportOptions
	domains map[string]bool
	// services are the group chat services' domains.
	services map[string]bool
	// seen are the accounts and rooms read so far.
	seen map[string]bool
	now  time.Time
	cur  *account
	sum  Summary
}

// writer is what an account is written through: a store.AccountImport,
// or, in a dry run, nothing.
type writer interface {
	Put(store.Record) error
	Commit(store.Account) error
	Abort() error
}

type dryWriter struct{}

func (dryWriter) Put(store.Record) error     { return nil }
func (dryWriter) Commit(store.Account) error { return nil }
func (dryWriter) Abort() error               { return nil }

func (imp *importer) begin(user string) (writer, error) {
	if imp.opts.DryRun {
		if imp.st != nil && !imp.opts.Overwrite {
			if _, found, err := imp.st.Account(user); err != nil {
				return nil, err
			} else if found {
				return nil, store.ErrExists
			}
		}
		return dryWriter{}, nil
	}
	return imp.st.BeginImport(user, store.ImportOptions{Overwrite: imp.opts.Overwrite, BatchBytes: imp.opts.BatchBytes})
}

func (imp *importer) entry(e portable.Entry) error {
	switch v := e.(type) {
	case *portable.User:
		return imp.user(v)
	case *portable.UserEnd:
		if imp.cur == nil {
			return nil
		}
		err := imp.cur.end()
		imp.done()
		return err
	case *portable.Room:
		return imp.room(v)
	case *portable.Unknown:
		if imp.cur == nil {
			imp.sum.Notes = append(imp.sum.Notes, unknownNote(v))
			return nil
		}
		imp.cur.rep.note("%s", unknownNote(v))
		return nil
	}
	if imp.cur == nil || imp.cur.skip {
		return nil
	}
	return imp.cur.add(e)
}

func unknownNote(u *portable.Unknown) string {
	where := fmt.Sprintf("%s:%d", u.File, u.Line)
	if u.File == "" {
		where = fmt.Sprintf("line %d", u.Line)
	}
	if u.Reason != "" {
		return fmt.Sprintf("not imported: <%s xmlns='%s'/> in %s (%s): %s", u.Name.Local, u.Name.Space, u.Where, where, u.Reason)
	}
	return fmt.Sprintf("not imported: <%s xmlns='%s'/> in %s (%s), which roost does not know", u.Name.Local, u.Name.Space, u.Where, where)
}

// done reports the account just finished.
func (imp *importer) done() {
	a := imp.cur
	imp.cur = nil
	a.rep.finish()
	imp.sum.add(&a.rep)
	if imp.opts.Account != nil {
		imp.opts.Account(a.rep)
	}
}

func (imp *importer) user(u *portable.User) error {
	a := &account{imp: imp, rep: AccountReport{JID: u.Name + "@" + u.Host, Status: Moved}, created: u.Created}
	imp.cur = a
	j, err := jid.Parse(u.Name + "@" + u.Host)
	if err != nil || j.Local() == "" {
		a.skipWith(Skipped, "not imported: %q is not a valid address", a.rep.JID)
		return nil
	}
	a.bare = j.Bare()
	a.user = a.bare.String()
	a.rep.JID = a.user
	switch {
	case !imp.domains[j.Domain()]:
		a.skipWith(Skipped, "not imported: this roost does not serve %s (its domains are %s)", j.Domain(), strings.Join(imp.opts.Domains, ", "))
		return nil
	case imp.seen[a.user]:
		a.skipWith(Skipped, "not imported again: the document has this account twice; the first one was read")
		return nil
	}
	imp.seen[a.user] = true
	if u.HasPassword {
		a.password(u.Password)
	}
	w, err := imp.begin(a.user)
	switch {
	case errors.Is(err, store.ErrExists):
		a.skipWith(Exists, "not imported: the account exists here; import with -overwrite to replace it")
		return nil
	case err != nil:
		return fmt.Errorf("import %s: %w", a.user, err)
	}
	a.w = w
	return nil
}

// room imports a group chat room: one record, written at once. What it
// cannot take goes into the summary's notes.
func (imp *importer) room(r *portable.Room) error {
	note := func(format string, args ...any) {
		imp.sum.Notes = append(imp.sum.Notes, fmt.Sprintf(format, args...))
	}
	j, err := jid.Parse(r.Name + "@" + r.Service)
	if err != nil || j.Local() == "" {
		note("not imported: room %.80q, which is not a valid address", r.Name+"@"+r.Service)
		return nil
	}
	room := j.Bare().String()
	switch {
	case !imp.services[j.Domain()]:
		note("not imported: room %s: this roost has no group chat service at %s (it has %s)", room, j.Domain(), strings.Join(imp.opts.RoomServices, ", "))
		return nil
	case imp.seen[room]:
		note("not imported again: room %s: the document has it twice; the first one was read", room)
		return nil
	}
	imp.seen[room] = true
	e := muc.Exported{Config: r.Config, Subject: r.Subject, SubjectBy: r.SubjectBy, SubjectAt: r.SubjectAt, Created: r.Created, Salt: r.Salt}
	if e.Created.IsZero() {
		e.Created = imp.now
	}
	for _, a := range r.Affiliations {
		e.Affiliations = append(e.Affiliations, muc.ExportedAffiliation(a))
	}
	rec, skipped, err := muc.ImportRoom(e, muc.Config{})
	if err != nil {
		note("not imported: room %s: %v", room, err)
		return nil
	}
	for _, s := range skipped {
		note("room %s: not imported: %s", room, s)
	}
	if imp.st != nil && !imp.opts.Overwrite {
		if _, found, err := imp.st.Room(room); err != nil {
			return fmt.Errorf("import room %s: %w", room, err)
		} else if found {
			note("not imported: room %s exists here; import with -overwrite to replace it", room)
			return nil
		}
	}
	if !imp.opts.DryRun {
		if err := imp.st.PutRoom(room, rec); err != nil {
			return fmt.Errorf("import room %s: %w", room, err)
		}
	}
	imp.sum.Rooms++
	return nil
}

// account is the account being imported.
type account struct {
	imp   *importer
	bare  jid.JID
	user  string
	rep   AccountReport
	skip  bool
	w     writer
	scram map[string]store.SCRAMKeys
	// plaintext: the document had only a plaintext password for it.
	plaintext bool
	created   time.Time
	roster    map[string]*im.StoredItem
	order     []string
	nodes     map[string]*node
	nodeOrder []string
	hasVCard  bool
	// The profile in PEP, for a vCard when the document has none.
	vcard4     *xmlstream.Element
	avatarMeta *xmlstream.Element
	avatarData map[string]string
	lastID     uint64
}

type node struct {
	config *xmlstream.Element
	affs   map[string]string
	subs   []string
}

func (a *account) skipWith(s Status, format string, args ...any) {
	a.skip = true
	a.rep.Status = s
	a.rep.note(format, args...)
}

func (a *account) abort() {
	if a.w != nil {
		_ = a.w.Abort() // the account is reported failed either way
		a.w = nil
	}
}

// put writes a record. A record the store refuses is reported and left
// out; any other failure ends the import.
func (a *account) put(r store.Record, what string) error {
	err := a.w.Put(r)
	if errors.Is(err, store.ErrInvalid) {
		a.rep.note("not imported: %s: %v", what, err)
		return nil
	}
	if err != nil {
		a.abort()
		a.rep.Status = Failed
		a.rep.note("not imported: %v", err)
		return err
	}
	return nil
}

func (a *account) add(e portable.Entry) error {
	switch v := e.(type) {
	case *portable.Credential:
		a.credential(v.Mechanism, v.Iterations, v.Salt, v.StoredKey, v.ServerKey)
	case *portable.RosterItem:
		a.rosterItem(v)
	case *portable.Request:
		a.request(v)
	case *portable.VCard:
		if !v.Element.Is(portable.NSVCard, "vCard") {
			a.rep.note("not imported: a vCard that is not a vcard-temp <vCard/>")
			return nil
		}
		a.hasVCard = true
		a.rep.Moved.VCards++
		return a.put(store.Record{Kind: store.RecordVCard, Value: xmlstream.AppendElement(nil, v.Element, "")}, "the vCard")
	case *portable.Private:
		key, ok := private.Key(v.Element)
		if !ok {
			a.rep.note("not imported: private XML <%s xmlns='%s'/>: a namespace private storage does not keep", v.Element.Name.Local, v.Element.Name.Space)
			return nil
		}
		a.rep.Moved.Private++
		return a.put(store.Record{Kind: store.RecordPrivate, Key: key, Value: xmlstream.AppendElement(nil, v.Element, "")}, "private XML "+key)
	case *portable.Blocked:
		return a.block(v.JID)
	case *portable.Privacy:
		return a.privacy(v)
	case *portable.PEPNode:
		a.pepNode(v)
	case *portable.PEPItem:
		return a.pepItem(v)
	case *portable.Offline:
		return a.offline(v.Message)
	case *portable.Archived:
		return a.archived(v)
	case *portable.LastActivity:
		a.rep.Moved.Other++
		return a.put(store.Record{Kind: store.RecordLast, Time: v.Stamp, Value: []byte(v.Status)}, "the last activity")
	case *portable.ArchivePrefs:
		a.rep.Moved.Other++
		return a.put(store.Record{Kind: store.RecordArchivePrefs, Value: xmlstream.AppendElement(nil, v.Element, "")}, "the archive preferences")
	case *portable.Doc:
		a.rep.Moved.Other++
		return a.put(store.Record{Kind: store.RecordDoc, Key: v.Key, Value: v.Value}, "a document")
	}
	return nil
}

// Credentials. Passwords never pass through plaintext: only SCRAM keys
// are taken; see the package documentation.

func (a *account) credential(mech string, iter int, salt, stored, server []byte) {
	name, ok := strings.CutPrefix(mech, "SCRAM-")
	if !ok || name == "" || strings.HasSuffix(name, "-PLUS") {
		a.rep.note("not imported: a credential for %q, which is not a SCRAM mechanism", mech)
		return
	}
	if iter < 1 || len(salt) == 0 || len(stored) == 0 || len(server) == 0 {
		a.rep.note("not imported: empty %s credentials", mech)
		return
	}
	c := sasl.Credentials{Hash: sasl.Hash(name), Salt: salt, Iterations: iter, StoredKey: stored, ServerKey: server}
	keys := store.SCRAMKeys{Salt: salt, Iterations: iter, StoredKey: stored, ServerKey: server}
	switch err := c.Check(); {
	case !c.Hash.Supported():
		a.rep.note("kept but unusable: %s credentials (roost logs in with SCRAM-SHA-1 and SCRAM-SHA-256)", mech)
	case err != nil:
		a.rep.note("kept but unusable: %s credentials roost does not accept (%d iterations, %d-byte salt, %d-byte keys; roost takes %d to %d iterations)",
			mech, iter, len(salt), len(stored), sasl.MinIterations, sasl.MaxIterations)
	}
	if a.scram == nil {
		a.scram = make(map[string]store.SCRAMKeys)
	}
	a.scram[name] = keys
	a.rep.Moved.Credentials++
}

// password takes what a password attribute can hold: ejabberd's older
// export form of SCRAM keys, "scram:[sha256,]StoredKey,ServerKey,Salt,
// iterations" (base64 keys), or a plaintext password, which is not read.
func (a *account) password(p string) {
	rest, ok := strings.CutPrefix(p, "scram:")
	if !ok {
		if p != "" {
			a.plaintext = true
		}
		return
	}
	parts := strings.Split(rest, ",")
	mech := "SCRAM-SHA-1"
	if len(parts) == 5 {
		switch parts[0] {
		case "sha256":
			mech = "SCRAM-SHA-256"
		case "sha512":
			mech = "SCRAM-SHA-512"
		}
		parts = parts[1:]
	}
	var keys [3][]byte
	bad := len(parts) != 4
	for i := 0; !bad && i < 3; i++ {
		var err error
		keys[i], err = base64.StdEncoding.DecodeString(parts[i])
		bad = err != nil
	}
	iter, err := 0, error(nil)
	if !bad {
		iter, err = strconv.Atoi(parts[3])
		bad = err != nil
	}
	if bad {
		a.rep.note("not imported: a password attribute in ejabberd's scram: form that does not read")
		return
	}
	a.credential(mech, iter, keys[2], keys[0], keys[1])
}

func (a *account) usable() bool {
	for name, k := range a.scram {
		c := sasl.Credentials{Hash: sasl.Hash(name), Salt: k.Salt, Iterations: k.Iterations, StoredKey: k.StoredKey, ServerKey: k.ServerKey}
		if c.Check() == nil {
			return true
		}
	}
	return false
}

// Roster items and requests, merged by contact until the account ends.

func (a *account) contact(s string) (string, bool) {
	j, err := jid.Parse(s)
	if err != nil {
		a.rep.note("not imported: roster entry for %q, which is not a valid address", s)
		return "", false
	}
	return j.Bare().String(), true
}

func (a *account) item(contact string) *im.StoredItem {
	if a.roster == nil {
		a.roster = make(map[string]*im.StoredItem)
	}
	it := a.roster[contact]
	if it == nil {
		it = &im.StoredItem{Subscription: "none"}
		a.roster[contact] = it
		a.order = append(a.order, contact)
	}
	return it
}

func (a *account) rosterItem(v *portable.RosterItem) {
	c, ok := a.contact(v.JID)
	if !ok {
		return
	}
	sub := v.Subscription
	switch sub {
	case "":
		sub = "none"
	case "none", "to", "from", "both":
	default:
		a.rep.note("imported as none: %s had subscription %q", c, sub)
		sub = "none"
	}
	it := a.item(c)
	it.Name, it.Subscription, it.Ask, it.Approved, it.InRoster = v.Name, sub, v.Ask == "subscribe", v.Approved, !v.Hidden
	it.Groups = it.Groups[:0]
	for _, g := range v.Groups {
		if g != "" && !slices.Contains(it.Groups, g) {
			it.Groups = append(it.Groups, g)
		}
	}
	if len(it.Groups) == 0 {
		it.Groups = nil
	}
}

func (a *account) request(v *portable.Request) {
	c, ok := a.contact(v.From)
	if !ok {
		return
	}
	// The request as im keeps it: a subscribe from the contact's bare
	// JID to the account, with what it said.
	p := xmlstream.New(xmlstream.NSClient, "presence").SetAttr("from", c).SetAttr("to", a.user).SetAttr("type", "subscribe")
	for ch := range toClient(v.Presence).Elements() {
		p.Append(ch)
	}
	it := a.item(c)
	it.PendingIn, it.Request = true, xmlstream.AppendElement(nil, p, "")
}

func (a *account) writeRoster() error {
	for _, c := range a.order {
		it := a.roster[c]
		if it.Subscription == "from" || it.Subscription == "both" {
			it.PendingIn, it.Request = false, nil // answered already
		}
		b, err := it.Encode()
		if err != nil || b == nil {
			continue
		}
		if it.InRoster {
			a.rep.Moved.Contacts++
		}
		if it.PendingIn {
			a.rep.Moved.Requests++
		}
		if err := a.put(store.Record{Kind: store.RecordRoster, Key: c, Value: b}, "roster item "+c); err != nil {
			return err
		}
	}
	return nil
}

// Blocking.

func (a *account) block(s string) error {
	j, err := jid.Parse(s)
	if err != nil {
		a.rep.note("not imported: blocking %q, which is not a valid address", s)
		return nil
	}
	a.rep.Moved.Blocked++
	return a.put(store.Record{Kind: store.RecordBlock, Key: j.String()}, "blocking "+s)
}

// privacy takes from a privacy list (XEP-0016) what a block list can
// hold: deny-all rules for one JID, in the default list or the one
// ejabberd's blocking command keeps. The rest is reported.
func (a *account) privacy(v *portable.Privacy) error {
	name := v.List.Get("name")
	blocking := v.Default || name == "Blocked contacts"
	others := 0
	for it := range v.List.Elements() {
		if blocking && it.Get("type") == "jid" && it.Get("action") == "deny" && it.FirstChild() == nil {
			if err := a.block(it.Get("value")); err != nil {
				return err
			}
			continue
		}
		others++
	}
	if others > 0 {
		a.rep.note("not imported: %d rules of the privacy list %q (roost keeps a block list: whole addresses only)", others, name)
	}
	return nil
}

// Personal eventing.

func (a *account) node(name string) *node {
	if a.nodes == nil {
		a.nodes = make(map[string]*node)
	}
	n := a.nodes[name]
	if n == nil {
		n = &node{}
		a.nodes[name] = n
		a.nodeOrder = append(a.nodeOrder, name)
	}
	return n
}

func (a *account) pepNode(v *portable.PEPNode) {
	n := a.node(v.Node)
	if v.Config != nil {
		n.config = v.Config
	}
	for _, af := range v.Affiliations {
		j, err := jid.Parse(af.JID)
		if err != nil {
			a.rep.note("not imported: affiliation of %q with %s: not a valid address", af.JID, v.Node)
			continue
		}
		if n.affs == nil {
			n.affs = make(map[string]string)
		}
		n.affs[j.Bare().String()] = af.Affiliation
	}
	for _, s := range v.Subscriptions {
		j, err := jid.Parse(s)
		if err != nil {
			a.rep.note("not imported: subscription of %q to %s: not a valid address", s, v.Node)
			continue
		}
		if !slices.Contains(n.subs, j.String()) {
			n.subs = append(n.subs, j.String())
		}
	}
}

// PEP nodes that hold a profile, for the vCard made from them.
const (
	nsVCard4     = "urn:xmpp:vcard4"
	nsAvatarData = "urn:xmpp:avatar:data"
	nsAvatarMeta = "urn:xmpp:avatar:metadata"
	// maxAvatars bounds the avatar images kept to find the current one.
	maxAvatars = 4
)

func (a *account) pepItem(v *portable.PEPItem) error {
	a.node(v.Node)
	switch v.Node {
	case nsVCard4:
		if v.Payload.Is(vcard.NSVCard4, "vcard") {
			a.vcard4 = v.Payload
		}
	case nsAvatarMeta:
		a.avatarMeta = v.Payload
	case nsAvatarData:
		if v.Payload != nil && len(a.avatarData) < maxAvatars {
			if a.avatarData == nil {
				a.avatarData = make(map[string]string)
			}
			a.avatarData[v.ID] = v.Payload.Text()
		}
	}
	var b []byte
	if v.Payload != nil {
		b = xmlstream.AppendElement(nil, v.Payload, "")
	}
	at := v.Published
	if at.IsZero() {
		at = a.imp.now
	}
	a.rep.Moved.PEPItems++
	return a.put(store.Record{Kind: store.RecordPEPItem, Key: v.Node, ID: v.ID, Time: at, Value: b}, "PEP item "+v.ID+" of "+v.Node)
}

func (a *account) writeNodes() error {
	for _, name := range a.nodeOrder {
		n := a.nodes[name]
		rec, skipped, err := pep.NodeRecord(n.config, n.affs, n.subs)
		if err != nil {
			a.rep.note("PEP node %s: %v; imported with the default configuration", name, err)
			rec, _, _ = pep.NodeRecord(nil, n.affs, n.subs)
		}
		for _, s := range skipped {
			a.rep.note("PEP node %s: not imported: %s", name, s)
		}
		a.rep.Moved.PEPNodes++
		if err := a.put(store.Record{Kind: store.RecordPEPNode, Key: name, Value: rec}, "PEP node "+name); err != nil {
			return err
		}
	}
	return nil
}

// profileVCard makes a vCard from the profile in PEP, for an account
// that has none of its own (see the package documentation).
func (a *account) profileVCard() error {
	if a.hasVCard || a.vcard4 == nil {
		return nil
	}
	var photo *vcard.Photo
	if a.avatarMeta != nil {
		if info := a.avatarMeta.Child(nsAvatarMeta, "info"); info != nil {
			photo = &vcard.Photo{Type: info.Get("type"), URL: info.Get("url"), BinVal: a.avatarData[info.Get("id")]}
		}
	}
	el := vcard.FromVCard4(a.vcard4, photo)
	a.rep.Moved.VCards++
	a.rep.note("vCard made from the profile in PEP (XEP-0292), as the old server showed it")
	return a.put(store.Record{Kind: store.RecordVCard, Value: xmlstream.AppendElement(nil, el, "")}, "the vCard")
}

// Messages.

// toClient returns el in jabber:client, with its children that were in
// el's namespace: exports write stanzas in their own namespace, or in
// none (the format's, then), and roost keeps them as they travel.
func toClient(el *xmlstream.Element) *xmlstream.Element {
	if el.Name.Space == xmlstream.NSClient {
		return el
	}
	return renamed(el, el.Name.Space)
}

func renamed(el *xmlstream.Element, from string) *xmlstream.Element {
	out := &xmlstream.Element{Name: el.Name, Attrs: el.Attrs}
	if el.Name.Space == from {
		out.Name.Space = xmlstream.NSClient
	}
	for _, n := range el.Children {
		if n.Elem != nil && n.Elem.Name.Space == from {
			n.Elem = renamed(n.Elem, from)
		}
		out.Children = append(out.Children, n)
	}
	return out
}

// withoutChildren returns el without the children drop matches.
func withoutChildren(el *xmlstream.Element, drop func(*xmlstream.Element) bool) *xmlstream.Element {
	keep := make([]xmlstream.Node, 0, len(el.Children))
	for _, n := range el.Children {
		if n.Elem == nil || !drop(n.Elem) {
			keep = append(keep, n)
		}
	}
	return el.WithChildren(keep)
}

func (a *account) offline(msg *xmlstream.Element) error {
	msg = toClient(msg)
	stamp := a.imp.now
	// The delay the exporting server added (XEP-0227 §4.4) is the time it
	// stored the message; roost keeps that apart and adds the delay when
	// it delivers.
	var last *xmlstream.Element
	for ch := range msg.Elements() {
		last = ch
	}
	switch {
	case last.Is(portable.NSDelay, "delay") && last.Get("from") == a.bare.Domain():
		if t, err := portable.ParseStamp(last.Get("stamp")); err == nil {
			stamp = t
			msg = withoutChildren(msg, func(c *xmlstream.Element) bool { return c == last })
		}
	default:
		if d := msg.Child(portable.NSDelay, "delay"); d != nil {
			if t, err := portable.ParseStamp(d.Get("stamp")); err == nil {
				stamp = t
			}
		}
	}
	msg = archive.Strip(msg, a.user)
	a.rep.Moved.Offline++
	return a.put(store.Record{Kind: store.RecordOffline, Time: stamp, Value: xmlstream.AppendElement(nil, msg, "")}, "an offline message")
}

func (a *account) archived(v *portable.Archived) error {
	msg := archive.Strip(toClient(v.Message), a.user)
	with, res := v.With, v.Resource
	if with == "" {
		other := a.other(msg)
		with, res = other.Bare().String(), other.Resource()
	}
	ref, err := a.archiveRef(v.ID, v.Stamp)
	if err != nil {
		return err
	}
	a.rep.Moved.Archived++
	return a.put(store.Record{Kind: store.RecordArchive, Ref: ref, With: with, Resource: res, Value: xmlstream.AppendElement(nil, msg, "")}, "an archived message")
}

// other is the party of an archived message other than the account, as
// module/mam records it: the recipient of what the account sent, the
// sender of what it received.
func (a *account) other(msg *xmlstream.Element) jid.JID {
	from, _ := jid.Parse(msg.Get("from"))
	to, _ := jid.Parse(msg.Get("to"))
	if from.IsZero() || from.Bare().Equal(a.bare) {
		if to.IsZero() {
			return a.bare
		}
		return to
	}
	return from
}

// archiveRef is the identifier an archived message gets: its own when
// the document is roost's (the id parses and names the message's time),
// so that clients' references to it stay valid; otherwise its time and a
// new random tag. Identifiers increase in document order.
func (a *account) archiveRef(id string, stamp time.Time) (store.ArchiveRef, error) {
	if parsed, err := archive.ParseID(id); err == nil && parsed.Time().Equal(stamp) && parsed.Seq > a.lastID {
		a.lastID = parsed.Seq
		return store.ArchiveRef{ID: parsed.Seq, Tag: parsed.Tag}, nil
	}
	var tag [4]byte
	if _, err := io.ReadFull(a.imp.opts.Rand, tag[:]); err != nil {
		return store.ArchiveRef{}, fmt.Errorf("make an archive id: %w", err)
	}
	a.lastID = max(uint64(max(stamp.UnixMicro(), 1)), a.lastID+1)
	return store.ArchiveRef{ID: a.lastID, Tag: binary.BigEndian.Uint32(tag[:])}, nil
}

// end finishes the account: what was held until the end, then the
// account record.
func (a *account) end() error {
	if a.skip {
		return nil
	}
	for _, step := range []func() error{a.writeRoster, a.writeNodes, a.profileVCard} {
		if err := step(); err != nil {
			return err
		}
	}
	if !a.usable() {
		a.rep.LoginDisabled = true
		switch {
		case a.plaintext:
			a.rep.note("login disabled: the export holds this account's password only in plaintext, which roost does not take (passwords never pass through plaintext); set one with: roost user passwd %s", a.user)
		case len(a.scram) > 0:
			a.rep.note("login disabled: none of its credentials works here; set a password with: roost user passwd %s", a.user)
		default:
			a.rep.note("login disabled: the export has no credentials for it; set a password with: roost user passwd %s", a.user)
		}
	}
	created := a.created
	if created.IsZero() {
		created = a.imp.now
	}
	err := a.w.Commit(store.Account{Username: a.user, Created: created, SCRAM: a.scram})
	a.w = nil
	switch {
	case errors.Is(err, store.ErrInvalid):
		a.rep.Status = Failed
		a.rep.note("not imported: the store refused the account: %v", err)
		return nil
	case err != nil:
		a.rep.Status = Failed
		return err
	}
	return nil
}
