package portable

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"roost/xmlstream"
)

// Defaults for [Options] fields left zero.
const (
	DefaultMaxElementBytes = 16 << 20
	DefaultMaxDepth        = 64
)

// Options bound what a document can make the decoder hold.
type Options struct {
	// MaxElementBytes bounds, in bytes of input, any one element an entry
	// carries (a vCard, a message, a PEP item, a roster item) and any one
	// token elsewhere. Zero means DefaultMaxElementBytes (16 MiB).
	MaxElementBytes int64
	// MaxDepth bounds the nesting inside such an element. Zero means
	// DefaultMaxDepth.
	MaxDepth int
}

func (o Options) withDefaults() Options {
	if o.MaxElementBytes <= 0 {
		o.MaxElementBytes = DefaultMaxElementBytes
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	return o
}

// Decode reads one XEP-0227 document from r and calls fn with each entry,
// in document order, stopping at and returning fn's first error. An
// XInclude in the document fails with ErrInclude: use DecodeFile.
func Decode(r io.Reader, opts Options, fn func(Entry) error) error {
	d := &decoder{opts: opts.withDefaults(), fn: fn}
	return d.file(nil, "", r, levelTop, "")
}

// DecodeFile reads the XEP-0227 document name in fsys, following its
// XIncludes inside fsys, and calls fn with each entry as Decode does.
func DecodeFile(fsys fs.FS, name string, opts Options, fn func(Entry) error) error {
	d := &decoder{opts: opts.withDefaults(), fn: fn}
	f, err := fsys.Open(name)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close() // read only
	return d.file(fsys, name, f, levelTop, "")
}

type decoder struct {
	opts Options
	fn   func(Entry) error
}

// level is where a file's root element stands. An include goes one level
// down, from a server to a host or from a host to a user, so includes
// cannot loop and nest at most two deep.
type level int

const (
	levelTop    level = iota // the document given: <server-data/> or <host/>
	levelServer              // included from <server-data/>: <host/>
	levelHost                // included from <host/>: <user/>
)

// fileDec reads one file of a document.
type fileDec struct {
	*decoder
	fsys fs.FS
	name string
	x    *xml.Decoder
	lr   *limitReader
}

// limitReader stops reading when the decoder has gone further than max
// bytes past mark, so that encoding/xml never buffers a token or an
// element beyond the limit: it reads a whole text or attribute value into
// memory before returning it.
type limitReader struct {
	r         io.Reader
	pos, mark int64
	max       int64
}

// readSlack lets encoding/xml's read-ahead buffer (4 KiB) fill past the
// end of an element that is just under the limit.
const readSlack = 64 << 10

func (l *limitReader) Read(p []byte) (int, error) {
	room := l.mark + l.max + readSlack - l.pos
	if room <= 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > room {
		p = p[:room]
	}
	n, err := l.r.Read(p)
	l.pos += int64(n)
	return n, err
}

func (d *decoder) file(fsys fs.FS, name string, r io.Reader, lvl level, host string) error {
	lr := &limitReader{r: r, max: d.opts.MaxElementBytes}
	x := xml.NewDecoder(lr)
	f := &fileDec{decoder: d, fsys: fsys, name: name, x: x, lr: lr}
	start, err := f.root()
	if err != nil {
		return err
	}
	pie := isPIE(start.Name.Space)
	switch {
	case pie && start.Name.Local == "server-data" && lvl == levelTop:
		err = f.serverData()
	case pie && start.Name.Local == "host" && lvl != levelHost:
		err = f.host(start)
	case pie && start.Name.Local == "user" && lvl == levelHost:
		err = f.user(start, host)
	default:
		return f.errorf(ErrFormat, "root element {%s}%s", start.Name.Space, start.Name.Local)
	}
	if err != nil {
		return err
	}
	return f.epilogue()
}

func isPIE(ns string) bool { return ns == NS || ns == NSLegacy }

// errorf returns a *SyntaxError at the decoder's position.
func (f *fileDec) errorf(kind error, format string, args ...any) error {
	line, _ := f.x.InputPos()
	return &SyntaxError{File: f.name, Line: line, Err: fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))}
}

// wrap turns an error from the XML decoder into a *SyntaxError.
func (f *fileDec) wrap(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		if se.Msg == "unexpected EOF" {
			err = fmt.Errorf("the document ends early: %w", io.ErrUnexpectedEOF)
		}
		return &SyntaxError{File: f.name, Line: se.Line, Err: err}
	}
	line, _ := f.x.InputPos()
	return &SyntaxError{File: f.name, Line: line, Err: err}
}

// token returns the next token outside bounded elements and starts the
// size limit afresh after it.
func (f *fileDec) token() (xml.Token, error) {
	tok, err := f.rawToken()
	f.lr.mark = f.x.InputOffset()
	return tok, err
}

// rawToken returns the next token, refusing DTDs. The size limit runs on
// from the last mark.
func (f *fileDec) rawToken() (xml.Token, error) {
	tok, err := f.x.Token()
	if err != nil {
		return nil, f.wrap(err)
	}
	if _, ok := tok.(xml.Directive); ok {
		return nil, f.errorf(ErrRestricted, "a DTD or other <!...> declaration")
	}
	return tok, nil
}

// root skips the prolog and returns the root element's start.
func (f *fileDec) root() (xml.StartElement, error) {
	for {
		tok, err := f.token()
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return xml.StartElement{}, f.errorf(ErrFormat, "no root element")
			}
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if len(strings.TrimSpace(string(t))) > 0 {
				return xml.StartElement{}, f.errorf(ErrFormat, "text before the root element")
			}
		}
	}
}

// epilogue checks that nothing but white space, comments and processing
// instructions follows the root element.
func (f *fileDec) epilogue() error {
	for {
		tok, err := f.x.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return f.wrap(err)
		}
		switch t := tok.(type) {
		case xml.StartElement, xml.Directive:
			return f.errorf(ErrFormat, "more after the root element")
		case xml.CharData:
			if len(strings.TrimSpace(string(t))) > 0 {
				return f.errorf(ErrFormat, "text after the root element")
			}
		}
		f.lr.mark = f.x.InputOffset()
	}
}

// children calls fn for each child element start of the element being
// read, until its end; text between them is ignored.
func (f *fileDec) children(fn func(xml.StartElement) error) error {
	for {
		tok, err := f.token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := fn(t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// skip reads to the end of the element just started, with the size limit
// per token rather than over the whole element.
func (f *fileDec) skip() error {
	for depth := 1; depth > 0; {
		tok, err := f.token()
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

// unknown reports an element the package does not read, and skips it.
func (f *fileDec) unknown(start xml.StartElement, where, reason string) error {
	line, _ := f.x.InputPos()
	u := &Unknown{Name: xmlstream.Name{Space: start.Name.Space, Local: start.Name.Local}, Where: where, Reason: reason, File: f.name, Line: line}
	if err := f.fn(u); err != nil {
		return err
	}
	return f.skip()
}

// invalid reports an element the package knows but cannot read, already
// read past.
func (f *fileDec) invalid(el *xmlstream.Element, where, reason string) error {
	line, _ := f.x.InputPos()
	return f.fn(&Unknown{Name: el.Name, Where: where, Reason: reason, File: f.name, Line: line})
}

// element reads the element just started into a tree, bounded by
// MaxElementBytes of input from its start tag and MaxDepth of nesting.
// Namespace declarations are dropped: names carry the namespace. Comments
// and processing instructions are dropped; adjacent text is merged.
func (f *fileDec) element(start xml.StartElement) (*xmlstream.Element, error) {
	root, err := f.newElement(start)
	if err != nil {
		return nil, err
	}
	stack := []*xmlstream.Element{root}
	for len(stack) > 0 {
		tok, err := f.rawToken()
		if err != nil {
			return nil, err
		}
		top := stack[len(stack)-1]
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= f.opts.MaxDepth {
				return nil, f.errorf(ErrTooLarge, "<%s/> nested more than %d deep", start.Name.Local, f.opts.MaxDepth)
			}
			el, err := f.newElement(t)
			if err != nil {
				return nil, err
			}
			top.Children = append(top.Children, xmlstream.Node{Elem: el})
			stack = append(stack, el)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if n := len(top.Children); n > 0 && top.Children[n-1].Elem == nil {
				top.Children[n-1].Text += string(t)
			} else {
				top.Children = append(top.Children, xmlstream.Node{Text: string(t)})
			}
		}
	}
	f.lr.mark = f.x.InputOffset()
	return root, nil
}

// newElement makes the element t starts. encoding/xml lets a repeated
// attribute through, which XML 1.0 §3.1 (Unique Att Spec) forbids and
// roost's own parser refuses: it is refused here too.
func (f *fileDec) newElement(t xml.StartElement) (*xmlstream.Element, error) {
	el := &xmlstream.Element{Name: xmlstream.Name{Space: t.Name.Space, Local: t.Name.Local}}
	for _, a := range t.Attr {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		space := a.Name.Space
		if space == "xml" { // encoding/xml leaves a few prefixes unresolved
			space = xmlstream.NSXML
		}
		name := xmlstream.Name{Space: space, Local: a.Name.Local}
		for _, b := range el.Attrs {
			if b.Name == name {
				return nil, f.errorf(ErrFormat, "attribute %s repeated on <%s/>", a.Name.Local, t.Name.Local)
			}
		}
		el.Attrs = append(el.Attrs, xmlstream.Attr{Name: name, Value: a.Value})
	}
	return el, nil
}

func attr(t xml.StartElement, space, local string) (string, bool) {
	for _, a := range t.Attr {
		if a.Name.Space == space && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

func (f *fileDec) serverData() error {
	return f.children(func(t xml.StartElement) error {
		switch {
		case isPIE(t.Name.Space) && t.Name.Local == "host":
			return f.host(t)
		case t.Name.Space == NSXInclude && t.Name.Local == "include":
			return f.include(t, levelServer, "")
		}
		return f.unknown(t, "server-data", "")
	})
}

func (f *fileDec) host(start xml.StartElement) error {
	host, _ := attr(start, "", "jid")
	if host == "" {
		return f.errorf(ErrFormat, "<host/> without a jid")
	}
	return f.children(func(t xml.StartElement) error {
		switch {
		case isPIE(t.Name.Space) && t.Name.Local == "user":
			return f.user(t, host)
		case t.Name.Space == NSRoost && t.Name.Local == "room":
			return f.room(t, host)
		case t.Name.Space == NSXInclude && t.Name.Local == "include":
			return f.include(t, levelHost, host)
		}
		return f.unknown(t, "host", "")
	})
}

// include follows an XInclude (XEP-0227 §5): href relative to this file,
// no parse other than xml, no xpointer.
func (f *fileDec) include(t xml.StartElement, lvl level, host string) error {
	href, _ := attr(t, "", "href")
	if p, ok := attr(t, "", "parse"); ok && p != "xml" {
		return f.errorf(ErrInclude, "parse=%q", p)
	}
	if _, ok := attr(t, "", "xpointer"); ok {
		return f.errorf(ErrInclude, "xpointer")
	}
	if f.fsys == nil {
		return f.errorf(ErrInclude, "href %.80q: the document was read from a stream, not a directory", href)
	}
	name := path.Join(path.Dir(f.name), href)
	if href == "" || strings.HasPrefix(href, "/") || strings.Contains(href, ":") || !fs.ValidPath(name) {
		return f.errorf(ErrInclude, "href %.80q is not a relative path inside the export", href)
	}
	if err := f.skip(); err != nil {
		return err
	}
	r, err := f.fsys.Open(name)
	if err != nil {
		return f.errorf(ErrInclude, "%v", err)
	}
	defer r.Close() // read only
	return f.decoder.file(f.fsys, name, r, lvl, host)
}

func (f *fileDec) user(start xml.StartElement, host string) error {
	u := &User{Host: host}
	u.Name, _ = attr(start, "", "name")
	if u.Name == "" {
		return f.errorf(ErrFormat, "<user/> without a name")
	}
	u.Password, u.HasPassword = attr(start, "", "password")
	if c, ok := attr(start, NSRoost, "created"); ok {
		t, err := ParseStamp(c)
		if err != nil {
			return f.errorf(ErrFormat, "created of %.40q: %v", u.Name, err)
		}
		u.Created = t
	}
	if err := f.fn(u); err != nil {
		return err
	}
	err := f.children(func(t xml.StartElement) error {
		ns, local := t.Name.Space, t.Name.Local
		switch {
		case ns == NSSCRAM && local == "scram-credentials":
			return f.scram(t)
		case ns == NSRoster && local == "query":
			return f.roster()
		case local == "presence" && (ns == NSClient || ns == xmlstream.NSServer || isPIE(ns)):
			return f.request(t)
		case ns == NSVCard && local == "vCard":
			return f.payload(t, func(el *xmlstream.Element) Entry { return &VCard{Element: el} })
		case ns == NSPrivate && local == "query":
			return f.children(func(t xml.StartElement) error {
				return f.payload(t, func(el *xmlstream.Element) Entry { return &Private{Element: el} })
			})
		case ns == NSBlocking && local == "blocklist":
			return f.blocklist()
		case ns == NSPrivacy && local == "query":
			return f.privacy(t)
		case ns == NSPubsubOwner && local == "pubsub":
			return f.pepNodes()
		case ns == NSPubsub && local == "pubsub":
			return f.pepItems()
		case isPIE(ns) && local == "offline-messages":
			return f.offline()
		case ns == NSArchive && local == "archive":
			return f.archive()
		case ns == NSRoost && local == "last":
			return f.last(t)
		case ns == NSRoost && local == "doc":
			return f.doc(t)
		case ns == NSMAM && local == "prefs":
			return f.payload(t, func(el *xmlstream.Element) Entry { return &ArchivePrefs{Element: el} })
		}
		return f.unknown(t, "user", "")
	})
	if err != nil {
		return err
	}
	return f.fn(&UserEnd{})
}

// payload reads an element and hands it over as the entry mk makes.
func (f *fileDec) payload(t xml.StartElement, mk func(*xmlstream.Element) Entry) error {
	el, err := f.element(t)
	if err != nil {
		return err
	}
	return f.fn(mk(el))
}

func (f *fileDec) scram(t xml.StartElement) error {
	el, err := f.element(t)
	if err != nil {
		return err
	}
	c := &Credential{Mechanism: el.Get("mechanism")}
	var bad []string
	key := func(name string) []byte {
		v := childText(el, name)
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(v), ""))
		if err != nil || len(b) == 0 {
			bad = append(bad, name)
		}
		return b
	}
	c.Salt, c.StoredKey, c.ServerKey = key("salt"), key("stored-key"), key("server-key")
	n, err := strconv.Atoi(strings.TrimSpace(childText(el, "iter-count")))
	if err != nil || n <= 0 {
		bad = append(bad, "iter-count")
	}
	c.Iterations = n
	if c.Mechanism == "" {
		bad = append(bad, "mechanism")
	}
	if len(bad) > 0 {
		return f.invalid(el, "user", "unreadable "+strings.Join(bad, ", "))
	}
	unwrapBase64(c)
	return f.fn(c)
}

// keySizes are the sizes of SCRAM's keys: the output of each mechanism's
// hash (RFC 5802 §3).
var keySizes = map[string]int{"SCRAM-SHA-1": 20, "SCRAM-SHA-256": 32, "SCRAM-SHA-512": 64}

// unwrapBase64 undoes the second base64 of ejabberd's export_piefxis,
// which writes the base64 text it keeps in its database encoded once
// more. The keys give it away: their size is the hash's once decoded
// twice, and never a hash's size when decoded once (a key of 20 bytes
// takes 28 in base64).
func unwrapBase64(c *Credential) {
	size, known := keySizes[c.Mechanism]
	if !known || len(c.StoredKey) == size {
		return
	}
	inner := func(b []byte) ([]byte, bool) {
		out, err := base64.StdEncoding.DecodeString(string(b))
		return out, err == nil && len(out) > 0
	}
	salt, ok1 := inner(c.Salt)
	stored, ok2 := inner(c.StoredKey)
	server, ok3 := inner(c.ServerKey)
	if ok1 && ok2 && ok3 && len(stored) == size && len(server) == size {
		c.Salt, c.StoredKey, c.ServerKey = salt, stored, server
	}
}

// childText is the text of el's first child named local, in any
// namespace: writers differ on whether the parts of scram-credentials
// inherit its namespace.
func childText(el *xmlstream.Element, local string) string {
	for c := range el.Elements() {
		if c.Name.Local == local {
			return c.Text()
		}
	}
	return ""
}

func (f *fileDec) roster() error {
	return f.children(func(t xml.StartElement) error {
		if t.Name.Space != NSRoster || t.Name.Local != "item" {
			return f.unknown(t, "roster", "")
		}
		el, err := f.element(t)
		if err != nil {
			return err
		}
		it := &RosterItem{JID: el.Get("jid"), Name: el.Get("name"), Subscription: el.Get("subscription"), Ask: el.Get("ask")}
		it.Approved = el.Get("approved") == "true" || el.Get("approved") == "1"
		if h, _ := el.Attr(NSRoost, "hidden"); h == "true" {
			it.Hidden = true
		}
		for g := range el.Elements() {
			if g.Is(NSRoster, "group") {
				it.Groups = append(it.Groups, g.Text())
			}
		}
		if it.JID == "" {
			return f.invalid(el, "roster", "an item without a jid")
		}
		return f.fn(it)
	})
}

func (f *fileDec) request(t xml.StartElement) error {
	el, err := f.element(t)
	if err != nil {
		return err
	}
	from := el.Get("from")
	if el.Get("type") != "subscribe" || from == "" {
		return f.invalid(el, "user", "a presence that is not a subscription request")
	}
	if i := strings.IndexByte(from, '/'); i >= 0 {
		from = from[:i]
	}
	return f.fn(&Request{From: from, Presence: el})
}

func (f *fileDec) blocklist() error {
	return f.children(func(t xml.StartElement) error {
		if t.Name.Space != NSBlocking || t.Name.Local != "item" {
			return f.unknown(t, "blocklist", "")
		}
		el, err := f.element(t)
		if err != nil {
			return err
		}
		if el.Get("jid") == "" {
			return f.invalid(el, "blocklist", "an item without a jid")
		}
		return f.fn(&Blocked{JID: el.Get("jid")})
	})
}

// privacy reads the whole privacy query, a handful of short lists, and
// hands over each list, marking the default one.
func (f *fileDec) privacy(t xml.StartElement) error {
	el, err := f.element(t)
	if err != nil {
		return err
	}
	def := ""
	if d := el.Child(NSPrivacy, "default"); d != nil {
		def = d.Get("name")
	}
	for c := range el.Elements() {
		switch {
		case c.Is(NSPrivacy, "list"):
			if err := f.fn(&Privacy{List: c, Default: def != "" && c.Get("name") == def}); err != nil {
				return err
			}
		case c.Is(NSPrivacy, "default"), c.Is(NSPrivacy, "active"):
		default:
			if err := f.invalid(c, "privacy", ""); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *fileDec) pepNodes() error {
	return f.children(func(t xml.StartElement) error {
		local := t.Name.Local
		if t.Name.Space != NSPubsubOwner || (local != "configure" && local != "affiliations" && local != "subscriptions") {
			return f.unknown(t, "pubsub#owner", "")
		}
		el, err := f.element(t)
		if err != nil {
			return err
		}
		n := &PEPNode{Node: el.Get("node")}
		if n.Node == "" {
			return f.invalid(el, "pubsub#owner", "no node named")
		}
		switch local {
		case "configure":
			n.Config = el.Child("jabber:x:data", "x")
		case "affiliations":
			for a := range el.Elements() {
				if a.Is(NSPubsubOwner, "affiliation") && a.Get("jid") != "" {
					n.Affiliations = append(n.Affiliations, Affiliation{JID: a.Get("jid"), Affiliation: a.Get("affiliation")})
				}
			}
		case "subscriptions":
			for s := range el.Elements() {
				// Prosody 0.12 writes the state as subscribed='subscribed'.
				if s.Is(NSPubsubOwner, "subscription") && s.Get("jid") != "" &&
					(s.Get("subscription") == "subscribed" || s.Get("subscribed") == "subscribed") {
					n.Subscriptions = append(n.Subscriptions, s.Get("jid"))
				}
			}
		}
		return f.fn(n)
	})
}

func (f *fileDec) pepItems() error {
	return f.children(func(t xml.StartElement) error {
		node, _ := attr(t, "", "node")
		if t.Name.Space != NSPubsub || t.Name.Local != "items" || node == "" {
			return f.unknown(t, "pubsub", "")
		}
		return f.children(func(t xml.StartElement) error {
			if t.Name.Space != NSPubsub || t.Name.Local != "item" {
				return f.unknown(t, "pubsub items", "")
			}
			el, err := f.element(t)
			if err != nil {
				return err
			}
			it := &PEPItem{Node: node, ID: el.Get("id"), Payload: el.FirstChild()}
			if it.ID == "" {
				return f.invalid(el, "pubsub items", "an item without an id")
			}
			if p, ok := el.Attr(NSRoost, "published"); ok {
				if it.Published, err = ParseStamp(p); err != nil {
					return f.invalid(el, "pubsub items", err.Error())
				}
			}
			return f.fn(it)
		})
	})
}

func (f *fileDec) offline() error {
	return f.children(func(t xml.StartElement) error {
		if t.Name.Local != "message" {
			return f.unknown(t, "offline-messages", "")
		}
		return f.payload(t, func(el *xmlstream.Element) Entry { return &Offline{Message: el} })
	})
}

func (f *fileDec) archive() error {
	return f.children(func(t xml.StartElement) error {
		if t.Name.Space != NSMAM || t.Name.Local != "result" {
			return f.unknown(t, "archive", "")
		}
		el, err := f.element(t)
		if err != nil {
			return err
		}
		fwd := el.Child(NSForward, "forwarded")
		a := &Archived{ID: el.Get("id")}
		a.With, _ = el.Attr(NSRoost, "with")
		a.Resource, _ = el.Attr(NSRoost, "resource")
		for c := range fwd.Elements() {
			if c.Name.Local == "message" && (c.Name.Space == NSClient || c.Name.Space == xmlstream.NSServer) {
				a.Message = c
			}
		}
		stamp := ""
		if delay := fwd.Child(NSDelay, "delay"); delay != nil {
			stamp = delay.Get("stamp")
		}
		if a.Message == nil || stamp == "" {
			return f.invalid(el, "archive", "a result without a forwarded message and its delay stamp")
		}
		if a.Stamp, err = ParseStamp(stamp); err != nil {
			return f.invalid(el, "archive", err.Error())
		}
		return f.fn(a)
	})
}

func (f *fileDec) last(t xml.StartElement) error {
	el, err := f.element(t)
	if err != nil {
		return err
	}
	st, err := ParseStamp(el.Get("stamp"))
	if err != nil {
		return f.invalid(el, "user", err.Error())
	}
	return f.fn(&LastActivity{Stamp: st, Status: el.Text()})
}

func (f *fileDec) doc(t xml.StartElement) error {
	el, err := f.element(t)
	if err != nil {
		return err
	}
	v, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(el.Text()), ""))
	k, kerr := base64.StdEncoding.DecodeString(el.Get("key"))
	if err != nil || kerr != nil || len(k) == 0 || len(v) == 0 {
		return f.invalid(el, "user", "a document without a key or value")
	}
	return f.fn(&Doc{Key: string(k), Value: v})
}

// room reads a room of the service host (see Encoder.room).
func (f *fileDec) room(t xml.StartElement, host string) error {
	el, err := f.element(t)
	if err != nil {
		return err
	}
	r := &Room{Service: host, Name: el.Get("name"), Config: el.Child(NSData, "x")}
	if r.Name == "" {
		return f.invalid(el, "host", "a room without a name")
	}
	if c := el.Get("created"); c != "" {
		if r.Created, err = ParseStamp(c); err != nil {
			return f.invalid(el, "host", err.Error())
		}
	}
	if s := el.Get("salt"); s != "" {
		if r.Salt, err = base64.StdEncoding.DecodeString(s); err != nil || len(r.Salt) == 0 {
			return f.invalid(el, "host", "a room salt that is not base64")
		}
	}
	if sub := el.Child(NSRoost, "subject"); sub != nil {
		r.Subject, r.SubjectBy = sub.Text(), sub.Get("by")
		if s := sub.Get("stamp"); s != "" {
			if r.SubjectAt, err = ParseStamp(s); err != nil {
				return f.invalid(el, "host", err.Error())
			}
		}
	}
	if q := el.Child(NSMUCAdmin, "query"); q != nil {
		for it := range q.Elements() {
			if !it.Is(NSMUCAdmin, "item") || it.Get("jid") == "" || it.Get("affiliation") == "" {
				return f.invalid(el, "host", "an affiliation without a jid or an affiliation")
			}
			a := RoomAffiliation{JID: it.Get("jid"), Affiliation: it.Get("affiliation"), Nick: it.Get("nick")}
			if rs := it.Child(NSMUCAdmin, "reason"); rs != nil {
				a.Reason = rs.Text()
			}
			r.Affiliations = append(r.Affiliations, a)
		}
	}
	return f.fn(r)
}

// Includes returns the files the document name in fsys includes where
// hosts and users stand (paths in fsys), reading it only up to its first
// user: an importer given a directory of files uses it to read each
// document once, from its root file, and not again as a file of its own.
func Includes(fsys fs.FS, name string) ([]string, error) {
	r, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	defer r.Close() // read only
	d := &decoder{opts: Options{}.withDefaults()}
	lr := &limitReader{r: r, max: d.opts.MaxElementBytes}
	f := &fileDec{decoder: d, fsys: fsys, name: name, x: xml.NewDecoder(lr), lr: lr}
	var out []string
	for depth := 0; ; {
		tok, err := f.token()
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) && depth == 0 {
				return out, nil
			}
			return out, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case isPIE(t.Name.Space) && t.Name.Local == "user":
				return out, nil
			case t.Name.Space == NSXInclude && t.Name.Local == "include":
				if href, _ := attr(t, "", "href"); href != "" {
					out = append(out, path.Join(path.Dir(name), href))
				}
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
}
