package portable

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"

	"roost/xmlstream"
)

// ErrEncoder means entries came in an order no document can have: an
// entry outside a user, a user inside a user, anything after Close.
var ErrEncoder = errors.New("portable: entry out of order")

// Encoder writes a XEP-0227 document, one entry at a time. Consecutive
// entries of one kind go into one container element (one roster query,
// one archive), as readers such as Prosody's expect: callers group them.
type Encoder struct {
	w      *bufio.Writer
	buf    []byte
	host   string
	inUser bool
	// open is the container element open inside the user, "" for none;
	// node the <items/> node open inside the pubsub container.
	open, node string
	started    bool
	closed     bool
	err        error
}

// NewEncoder returns an encoder writing to w. Nothing is written until
// the first entry or Close.
func NewEncoder(w io.Writer) *Encoder {
	return &Encoder{w: bufio.NewWriterSize(w, 64<<10)}
}

// Containers: what each kind of entry is written in, and its start tag.
const (
	boxRoster   = "roster"
	boxPrivate  = "private"
	boxBlocks   = "blocklist"
	boxPrivacy  = "privacy"
	boxPEPNodes = "pubsub#owner"
	boxPEPItems = "pubsub"
	boxOffline  = "offline"
	boxArchive  = "archive"
)

var containerTags = map[string][2]string{
	boxRoster:   {`<query xmlns='` + NSRoster + `'>`, `</query>`},
	boxPrivate:  {`<query xmlns='` + NSPrivate + `'>`, `</query>`},
	boxBlocks:   {`<blocklist xmlns='` + NSBlocking + `'>`, `</blocklist>`},
	boxPrivacy:  {`<query xmlns='` + NSPrivacy + `'>`, `</query>`},
	boxPEPNodes: {`<pubsub xmlns='` + NSPubsubOwner + `'>`, `</pubsub>`},
	boxPEPItems: {`<pubsub xmlns='` + NSPubsub + `'>`, `</pubsub>`},
	boxOffline:  {`<offline-messages>`, `</offline-messages>`},
	boxArchive:  {`<archive xmlns='` + NSArchive + `'>`, `</archive>`},
}

// Encode writes one entry. A *User starts a user (and a host, if it is
// another than the last user's); the user's other entries follow; a
// *UserEnd ends it. *Unknown entries are not written.
func (e *Encoder) Encode(en Entry) error {
	if e.err != nil {
		return e.err
	}
	if e.closed {
		return ErrEncoder
	}
	e.buf = e.buf[:0]
	var err error
	switch v := en.(type) {
	case *User:
		err = e.startUser(v)
	case *UserEnd:
		err = e.endUser()
	case *Room:
		err = e.room(v)
	case *Unknown:
	default:
		if !e.inUser {
			return fmt.Errorf("%w: %T outside a user", ErrEncoder, en)
		}
		err = e.userEntry(en)
	}
	if err != nil {
		return err
	}
	if _, err := e.w.Write(e.buf); err != nil {
		e.err = fmt.Errorf("write export: %w", err)
		return e.err
	}
	return nil
}

// Close ends the document and flushes it. It does not close the
// underlying writer.
func (e *Encoder) Close() error {
	if e.err != nil {
		return e.err
	}
	if e.closed {
		return nil
	}
	e.buf = e.buf[:0]
	if e.inUser {
		if err := e.endUser(); err != nil {
			return err
		}
	}
	e.header()
	if e.host != "" {
		e.buf = append(e.buf, "</host>\n"...)
	}
	e.buf = append(e.buf, "</server-data>\n"...)
	e.closed = true
	if _, err := e.w.Write(e.buf); err != nil {
		e.err = fmt.Errorf("write export: %w", err)
		return e.err
	}
	if err := e.w.Flush(); err != nil {
		e.err = fmt.Errorf("write export: %w", err)
		return e.err
	}
	return nil
}

func (e *Encoder) header() {
	if e.started {
		return
	}
	e.started = true
	e.buf = append(e.buf, "<?xml version='1.0' encoding='UTF-8'?>\n<server-data xmlns='"+NS+"' xmlns:roost='"+NSRoost+"'>\n"...)
}

func (e *Encoder) attr(name, value string) {
	e.buf = append(e.buf, ' ')
	e.buf = append(e.buf, name...)
	e.buf = append(e.buf, "='"...)
	e.buf = xmlstream.AppendEscapedAttr(e.buf, value)
	e.buf = append(e.buf, '\'')
}

func (e *Encoder) startUser(u *User) error {
	if err := e.enterHost("user", u.Host, u.Name); err != nil {
		return err
	}
	e.buf = append(e.buf, "<user"...)
	e.attr("name", u.Name)
	if u.HasPassword {
		e.attr("password", u.Password)
	}
	if !u.Created.IsZero() {
		e.attr("roost:created", FormatStamp(u.Created))
	}
	e.buf = append(e.buf, ">\n"...)
	e.inUser = true
	return nil
}

// enterHost starts the document if needed and makes host the open host
// element, for a user or a room (what) named name, which stands outside
// any user.
func (e *Encoder) enterHost(what, host, name string) error {
	if e.inUser {
		return fmt.Errorf("%w: %s %.40q inside a user", ErrEncoder, what, name)
	}
	if host == "" || name == "" {
		return fmt.Errorf("%w: a %s needs a host and a name", ErrEncoder, what)
	}
	e.header()
	if host == e.host {
		return nil
	}
	if e.host != "" {
		e.buf = append(e.buf, "</host>\n"...)
	}
	e.buf = append(e.buf, "<host"...)
	e.attr("jid", host)
	e.buf = append(e.buf, ">\n"...)
	e.host = host
	return nil
}

// room writes a room in its service's host element, in roost's
// extension: <room xmlns='urn:roost:pie:0'/> holding the configuration
// as the submitted muc#roomconfig form an owner sends (XEP-0045 §10.2),
// the subject, and the affiliations as the muc#admin items of an
// affiliation list (§9.5, §10.5).
func (e *Encoder) room(r *Room) error {
	if err := e.enterHost("room", r.Service, r.Name); err != nil {
		return err
	}
	el := xmlstream.New(NSRoost, "room").SetAttr("name", r.Name)
	if !r.Created.IsZero() {
		el.SetAttr("created", FormatStamp(r.Created))
	}
	if len(r.Salt) > 0 {
		el.SetAttr("salt", base64.StdEncoding.EncodeToString(r.Salt))
	}
	if r.Config != nil {
		el.Append(r.Config)
	}
	if r.Subject != "" || r.SubjectBy != "" || !r.SubjectAt.IsZero() {
		sub := xmlstream.New(NSRoost, "subject")
		if r.SubjectBy != "" {
			sub.SetAttr("by", r.SubjectBy)
		}
		if !r.SubjectAt.IsZero() {
			sub.SetAttr("stamp", FormatStamp(r.SubjectAt))
		}
		el.Append(sub.AppendText(r.Subject))
	}
	if len(r.Affiliations) > 0 {
		q := xmlstream.New(NSMUCAdmin, "query")
		for _, a := range r.Affiliations {
			it := xmlstream.New(NSMUCAdmin, "item").SetAttr("affiliation", a.Affiliation).SetAttr("jid", a.JID)
			if a.Nick != "" {
				it.SetAttr("nick", a.Nick)
			}
			if a.Reason != "" {
				it.Append(xmlstream.New(NSMUCAdmin, "reason").AppendText(a.Reason))
			}
			q.Append(it)
		}
		el.Append(q)
	}
	e.element(el)
	e.buf = append(e.buf, '\n')
	return nil
}

func (e *Encoder) endUser() error {
	if !e.inUser {
		return fmt.Errorf("%w: the end of a user outside one", ErrEncoder)
	}
	e.box("")
	e.buf = append(e.buf, "</user>\n"...)
	e.inUser = false
	return nil
}

// box makes name the open container, closing the one open before.
func (e *Encoder) box(name string) {
	if e.open == name {
		return
	}
	if e.node != "" {
		e.buf = append(e.buf, "</items>"...)
		e.node = ""
	}
	if e.open != "" {
		e.buf = append(e.buf, containerTags[e.open][1]...)
		e.buf = append(e.buf, '\n')
	}
	if name != "" {
		e.buf = append(e.buf, containerTags[name][0]...)
	}
	e.open = name
}

// element writes a payload with its namespace declared. One in no
// namespace says so (xmlns=”): it would otherwise be read in the
// format's namespace, the default one around it.
func (e *Encoder) element(el *xmlstream.Element) {
	start := len(e.buf)
	e.buf = xmlstream.AppendElement(e.buf, el, "")
	if el.Name.Space == "" {
		at := start + 1 + len(el.Name.Local)
		e.buf = append(e.buf[:at], append([]byte(" xmlns=''"), e.buf[at:]...)...)
	}
}

func (e *Encoder) userEntry(en Entry) error {
	switch v := en.(type) {
	case *Credential:
		e.box("")
		e.buf = append(e.buf, "<scram-credentials xmlns='"+NSSCRAM+"'"...)
		e.attr("mechanism", v.Mechanism)
		e.buf = append(e.buf, "><iter-count>"...)
		e.buf = strconv.AppendInt(e.buf, int64(v.Iterations), 10)
		e.buf = append(e.buf, "</iter-count><salt>"...)
		e.buf = base64.StdEncoding.AppendEncode(e.buf, v.Salt)
		e.buf = append(e.buf, "</salt><server-key>"...)
		e.buf = base64.StdEncoding.AppendEncode(e.buf, v.ServerKey)
		e.buf = append(e.buf, "</server-key><stored-key>"...)
		e.buf = base64.StdEncoding.AppendEncode(e.buf, v.StoredKey)
		e.buf = append(e.buf, "</stored-key></scram-credentials>\n"...)
	case *RosterItem:
		e.box(boxRoster)
		el := xmlstream.New(NSRoster, "item").SetAttr("jid", v.JID)
		if v.Name != "" {
			el.SetAttr("name", v.Name)
		}
		if v.Subscription != "" {
			el.SetAttr("subscription", v.Subscription)
		}
		if v.Ask != "" {
			el.SetAttr("ask", v.Ask)
		}
		if v.Approved {
			el.SetAttr("approved", "true")
		}
		if v.Hidden {
			el.SetAttrNS(NSRoost, "hidden", "true")
		}
		for _, g := range v.Groups {
			el.Append(xmlstream.New(NSRoster, "group").AppendText(g))
		}
		e.element(el)
	case *Request:
		e.box("")
		e.element(v.Presence)
	case *VCard:
		e.box("")
		e.element(v.Element)
	case *Private:
		e.box(boxPrivate)
		e.element(v.Element)
	case *Blocked:
		e.box(boxBlocks)
		e.element(xmlstream.New(NSBlocking, "item").SetAttr("jid", v.JID))
	case *Privacy:
		e.box(boxPrivacy)
		if v.Default {
			e.element(xmlstream.New(NSPrivacy, "default").SetAttr("name", v.List.Get("name")))
		}
		e.element(v.List)
	case *PEPNode:
		e.box(boxPEPNodes)
		e.pepNode(v)
	case *PEPItem:
		e.box(boxPEPItems)
		if e.node != v.Node {
			if e.node != "" {
				e.buf = append(e.buf, "</items>"...)
			}
			e.buf = append(e.buf, "<items"...)
			e.attr("node", v.Node)
			e.buf = append(e.buf, '>')
			e.node = v.Node
		}
		e.buf = append(e.buf, "<item"...)
		e.attr("id", v.ID)
		if !v.Published.IsZero() {
			e.attr("roost:published", FormatStamp(v.Published))
		}
		if v.Payload == nil {
			e.buf = append(e.buf, "/>"...)
			break
		}
		e.buf = append(e.buf, '>')
		e.element(v.Payload)
		e.buf = append(e.buf, "</item>"...)
	case *Offline:
		e.box(boxOffline)
		e.element(v.Message)
	case *Archived:
		e.box(boxArchive)
		e.buf = append(e.buf, "<result xmlns='"+NSMAM+"'"...)
		e.attr("id", v.ID)
		if v.With != "" {
			e.attr("roost:with", v.With)
		}
		if v.Resource != "" {
			e.attr("roost:resource", v.Resource)
		}
		e.buf = append(e.buf, "><forwarded xmlns='"+NSForward+"'><delay xmlns='"+NSDelay+"'"...)
		e.attr("stamp", FormatStamp(v.Stamp))
		e.buf = append(e.buf, "/>"...)
		e.element(v.Message)
		e.buf = append(e.buf, "</forwarded></result>\n"...)
	case *LastActivity:
		e.box("")
		e.buf = append(e.buf, "<last xmlns='"+NSRoost+"'"...)
		e.attr("stamp", FormatStamp(v.Stamp))
		e.buf = append(e.buf, '>')
		e.buf = xmlstream.AppendEscapedText(e.buf, v.Status)
		e.buf = append(e.buf, "</last>\n"...)
	case *ArchivePrefs:
		e.box("")
		e.element(v.Element)
	case *Doc:
		e.box("")
		// Keys, like values, are bytes (a NUL separates their parts), which
		// XML cannot carry as they are.
		e.buf = append(e.buf, "<doc xmlns='"+NSRoost+"'"...)
		e.attr("key", base64.StdEncoding.EncodeToString([]byte(v.Key)))
		e.buf = append(e.buf, '>')
		e.buf = base64.StdEncoding.AppendEncode(e.buf, v.Value)
		e.buf = append(e.buf, "</doc>\n"...)
	default:
		return fmt.Errorf("%w: unknown entry %T", ErrEncoder, en)
	}
	return nil
}

// pepNode writes a node as Prosody's xep0227 driver does: a configure
// element with the node_config form, then its affiliations and
// subscriptions, if any. A node with neither a form nor anything else
// still gets its (empty) configure element, which is what says it exists.
func (e *Encoder) pepNode(n *PEPNode) {
	if n.Config != nil || (len(n.Affiliations) == 0 && len(n.Subscriptions) == 0) {
		conf := xmlstream.New(NSPubsubOwner, "configure").SetAttr("node", n.Node)
		if n.Config != nil {
			conf.Append(n.Config)
		}
		e.element(conf)
	}
	if len(n.Affiliations) > 0 {
		el := xmlstream.New(NSPubsubOwner, "affiliations").SetAttr("node", n.Node)
		for _, a := range n.Affiliations {
			el.Append(xmlstream.New(NSPubsubOwner, "affiliation").SetAttr("jid", a.JID).SetAttr("affiliation", a.Affiliation))
		}
		e.element(el)
	}
	if len(n.Subscriptions) > 0 {
		el := xmlstream.New(NSPubsubOwner, "subscriptions").SetAttr("node", n.Node)
		for _, j := range n.Subscriptions {
			el.Append(xmlstream.New(NSPubsubOwner, "subscription").SetAttr("jid", j).SetAttr("subscription", "subscribed"))
		}
		e.element(el)
	}
}
