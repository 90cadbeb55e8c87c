package push

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"roost/form"
	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// Namespaces.
const (
	// NS is push notifications (XEP-0357), its disco feature and payloads.
	NS = "urn:xmpp:push:0"
	// NSSummary is the FORM_TYPE of the notification's summary (§5).
	NSSummary = "urn:xmpp:push:summary"
	// NSPublishOptions is the FORM_TYPE of the options an app server
	// wants with each publish (XEP-0060 §7.1.5).
	NSPublishOptions = "http://jabber.org/protocol/pubsub#publish-options"

	nsPubSub     = "http://jabber.org/protocol/pubsub"
	nsReference  = "urn:xmpp:reference:0"
	nsEME        = "urn:xmpp:eme:0"
	placeholder  = "New Message!"
	pendingLimit = 4096
)

// encrypted are the payloads of end-to-end encrypted messages: they have
// no body a summary could show, but they are messages.
var encrypted = []xmlstream.Name{
	{Space: "eu.siacs.conversations.axolotl", Local: "encrypted"},
	{Space: "urn:xmpp:omemo:2", Local: "encrypted"},
	{Space: "urn:xmpp:openpgp:0", Local: "openpgp"},
	{Space: "jabber:x:encrypted", Local: "x"},
}

// Store keeps the registrations; *store.Store satisfies it. Users are
// bare JIDs in string form.
type Store interface {
	PushRegistrations(user string) ([]byte, bool, error)
	PutPushRegistrations(user string, v []byte) error
}

// Router sends the notifications and tells whether an account would read
// a stanza now; *router.Router satisfies it.
type Router interface {
	Route(ctx context.Context, st *stanza.Stanza)
	// Awake reports whether a session of the account is bound and not
	// hibernating (XEP-0198).
	Awake(bare jid.JID) bool
}

// Options configure push notifications.
type Options struct {
	Store  Store
	Router Router
	// IncludeBody puts the message text in the summary. Off by default:
	// it then goes through the app server and the phone maker's push
	// service (XEP-0357 §8).
	IncludeBody bool
	// MaxRegistrations bounds an account's registrations (5); enabling
	// one more forgets the oldest.
	MaxRegistrations int
	// Burst is how long events are gathered into one notification (1s).
	Burst time.Duration
	// XML bounds the parse of stored registrations.
	XML    xmlstream.Limits
	Now    func() time.Time
	Logger *slog.Logger
}

// registration is one app server node enabled by an account (XEP-0357
// §4).
type registration struct {
	jid     jid.JID
	node    string
	options *xmlstream.Element // the publish-options form, or nil
	since   time.Time
}

func (r *registration) same(o *registration) bool { return r.jid.Equal(o.jid) && r.node == o.node }

// event is something that warrants a notification, for an account.
type event struct {
	owner  jid.JID
	sender jid.JID
	body   string
	msg    bool // a message (or mention); else a subscription request
}

// burst gathers the events of one account until it is due.
type burst struct {
	owner         jid.JID
	due           time.Time
	messages      int
	subscriptions int
	sender        jid.JID
	body          string
}

// pending is a notification sent and not yet answered.
type pending struct {
	owner jid.JID
	reg   *registration
	sent  time.Time
}

// Push sends push notifications.
type Push struct {
	opts   Options
	log    *slog.Logger
	events chan event
	ids    atomic.Uint64
	idBase string
	drops  atomic.Uint64

	mu      sync.RWMutex
	regs    map[string][]*registration // bare JID → registrations, as read or set
	waiting map[string]pending         // IQ id → notification sent
}

// New returns the push module.
func New(opts Options) *Push {
	if opts.MaxRegistrations <= 0 {
		opts.MaxRegistrations = 5
	}
	if opts.Burst <= 0 {
		opts.Burst = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &Push{opts: opts, log: opts.Logger, events: make(chan event, 1024), idBase: "push-" + hex.EncodeToString(b[:]) + "-",
		regs: make(map[string][]*registration), waiting: make(map[string]pending)}
}

// Name implements module.Module.
func (p *Push) Name() string { return "push" }

// Register implements module.Module.
func (p *Push) Register(r *module.Registry) {
	r.IQ(stanza.TypeSet, NS, "enable", module.HandlerFunc(p.enable))
	r.IQ(stanza.TypeSet, NS, "disable", module.HandlerFunc(p.disable))
	r.Inbound(module.InterceptorFunc(p.inbound))
	r.ObserveAccounts(p)
	r.AccountFeatures(NS) // §3: on the account's bare JID
	r.Job("notify", p.run)
}

// AccountDeleted implements module.AccountObserver: the registrations go
// with the account in the store; the cached ones go here.
func (p *Push) AccountDeleted(_ context.Context, bare jid.JID) {
	p.mu.Lock()
	delete(p.regs, bare.String())
	p.mu.Unlock()
}

// own returns the account an enable or disable is for: the sender's, to
// its bare JID or to no one.
func own(st *stanza.Stanza) (jid.JID, error) {
	owner := st.From.Bare()
	if st.From.Resource() == "" || (!st.To.IsZero() && !st.To.Equal(owner)) {
		return jid.JID{}, stanza.NewError(stanza.Forbidden, "push notifications are set for your own account")
	}
	return owner, nil
}

// enable registers an app server node (§4).
func (p *Push) enable(_ context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	owner, err := own(st)
	if err != nil {
		return nil, err
	}
	el := st.El.FirstChild()
	reg, err := parseEnable(el, owner)
	if err != nil {
		return nil, err
	}
	reg.since = p.opts.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	regs, err := p.regsLocked(owner)
	if err != nil {
		return nil, err
	}
	// §4: enabling a JID and node again replaces their options.
	regs = slices.DeleteFunc(slices.Clone(regs), reg.same)
	regs = append(regs, reg)
	if len(regs) > p.opts.MaxRegistrations {
		regs = regs[len(regs)-p.opts.MaxRegistrations:] // the oldest go
	}
	if err := p.saveLocked(owner, regs); err != nil {
		return nil, err
	}
	return nil, nil
}

// parseEnable reads an <enable/>: the push service's JID, required and
// not the account's own (§4), its node, and the publish options.
func parseEnable(el *xmlstream.Element, owner jid.JID) (*registration, error) {
	if el.Get("jid") == "" {
		return nil, stanza.NewError(stanza.BadRequest, "enable needs the push service's jid")
	}
	j, err := jid.Parse(el.Get("jid"))
	if err != nil {
		return nil, stanza.NewError(stanza.JIDMalformed, "jid: "+err.Error())
	}
	if j.Bare().Equal(owner) {
		return nil, stanza.NewError(stanza.BadRequest, "the push service cannot be your own account")
	}
	reg := &registration{jid: j, node: el.Get("node")}
	if x := el.Child(form.NS, "x"); x != nil {
		if x.Get("type") == "" {
			// XEP-0357's own example omits the type of a form that is
			// submitted.
			x = x.WithAttr("type", form.TypeSubmit)
		}
		f, err := form.Parse(x)
		if err != nil {
			return nil, stanza.NewError(stanza.BadRequest, err.Error())
		}
		if ft := f.FormType(); ft != NSPublishOptions {
			return nil, stanza.NewError(stanza.BadRequest, "the form's FORM_TYPE must be "+NSPublishOptions)
		}
		// Published as a submitted form (XEP-0060 §7.1.5), its
		// FORM_TYPE hidden (XEP-0068 §3).
		f.Type = form.TypeSubmit
		f.Field(form.FormTypeVar).Type = form.Hidden
		reg.options = f.Element()
	}
	return reg, nil
}

// disable removes the account's registrations of a push service, or only
// of one of its nodes (§5).
func (p *Push) disable(_ context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	owner, err := own(st)
	if err != nil {
		return nil, err
	}
	el := st.El.FirstChild()
	j, err := jid.Parse(el.Get("jid"))
	if err != nil || el.Get("jid") == "" {
		return nil, stanza.NewError(stanza.BadRequest, "disable needs the push service's jid")
	}
	_, hasNode := el.Attr("", "node")
	p.mu.Lock()
	defer p.mu.Unlock()
	regs, err := p.regsLocked(owner)
	if err != nil {
		return nil, err
	}
	kept := slices.DeleteFunc(slices.Clone(regs), func(r *registration) bool {
		return r.jid.Equal(j) && (!hasNode || r.node == el.Get("node"))
	})
	if len(kept) != len(regs) {
		if err := p.saveLocked(owner, kept); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// registrations returns owner's registrations, read once from the store.
func (p *Push) registrations(owner jid.JID) ([]*registration, error) {
	p.mu.RLock()
	regs, ok := p.regs[owner.String()]
	p.mu.RUnlock()
	if ok {
		return regs, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.regsLocked(owner)
}

// regsLocked is registrations with p.mu held for writing.
func (p *Push) regsLocked(owner jid.JID) ([]*registration, error) {
	if regs, ok := p.regs[owner.String()]; ok {
		return regs, nil
	}
	b, found, err := p.opts.Store.PushRegistrations(owner.String())
	if err != nil {
		return nil, fmt.Errorf("read push registrations: %w", err)
	}
	var regs []*registration
	if found {
		if regs, err = decodeRegistrations(b, p.opts.XML); err != nil {
			return nil, err
		}
	}
	p.regs[owner.String()] = regs
	return regs, nil
}

// saveLocked stores owner's registrations and caches them; p.mu is held.
func (p *Push) saveLocked(owner jid.JID, regs []*registration) error {
	var b []byte
	if len(regs) > 0 {
		b = xmlstream.AppendElement(nil, encodeRegistrations(regs), "")
	}
	if err := p.opts.Store.PutPushRegistrations(owner.String(), b); err != nil {
		return fmt.Errorf("store push registrations: %w", err)
	}
	p.regs[owner.String()] = regs
	return nil
}

// encodeRegistrations writes registrations as stored.
func encodeRegistrations(regs []*registration) *xmlstream.Element {
	el := xmlstream.New(NS, "registrations")
	for _, r := range regs {
		re := xmlstream.New(NS, "registration").SetAttr("jid", r.jid.String()).SetAttr("node", r.node).
			SetAttr("since", strconv.FormatInt(r.since.Unix(), 10))
		el.Append(re.Append(r.options))
	}
	return el
}

// decodeRegistrations reads what encodeRegistrations wrote.
func decodeRegistrations(b []byte, lim xmlstream.Limits) ([]*registration, error) {
	el, err := xmlstream.Parse(b, lim)
	if err != nil {
		return nil, fmt.Errorf("decode push registrations: %w", err)
	}
	var regs []*registration
	for re := range el.Elements() {
		j, err := jid.Parse(re.Get("jid"))
		if err != nil {
			return nil, fmt.Errorf("decode push registrations: %w", err)
		}
		since, _ := strconv.ParseInt(re.Get("since"), 10, 64)
		regs = append(regs, &registration{jid: j, node: re.Get("node"), options: re.Child(form.NS, "x"), since: time.Unix(since, 0)})
	}
	return regs, nil
}

// inbound looks at what arrives for an account: answers to notifications
// are taken; a message, a subscription request or a mention in a group
// chat, for an account that has registrations and no session awake, is
// queued for a notification.
func (p *Push) inbound(_ context.Context, st *stanza.Stanza) (bool, error) {
	if st.Kind == stanza.IQ {
		if (st.Type == stanza.TypeResult || st.Type == stanza.TypeError) && strings.HasPrefix(st.ID, p.idBase) {
			p.answered(st)
			return true, nil
		}
		return false, nil
	}
	ev, ok := notable(st)
	if !ok {
		return false, nil
	}
	owner := st.To.Bare()
	regs, err := p.registrations(owner)
	if err != nil || len(regs) == 0 || p.opts.Router.Awake(owner) {
		return false, nil
	}
	ev.owner = owner
	if !p.opts.IncludeBody {
		ev.body = ""
	}
	select {
	case p.events <- ev:
	default:
		p.drops.Add(1) // a burst of thousands: the ones queued notify
	}
	return false, nil
}

// notable tells what warrants a notification (XEP-0357 §6): a message
// that is a conversation (a body, or an encrypted payload), a
// subscription request, or a group chat message that mentions the
// account.
func notable(st *stanza.Stanza) (event, bool) {
	switch st.Kind {
	case stanza.Presence:
		return event{sender: st.From.Bare()}, st.Type == stanza.TypeSubscribe
	case stanza.Message:
	default:
		return event{}, false
	}
	body := st.El.ChildText(st.El.Name.Space, "body")
	ev := event{sender: st.From, body: body, msg: true}
	switch st.Type {
	case stanza.TypeChat, stanza.TypeNormal:
		if body != "" {
			return ev, true
		}
		for c := range st.El.Elements() {
			if slices.Contains(encrypted, c.Name) || c.Name.Space == nsEME {
				return ev, true
			}
		}
	case stanza.TypeGroupchat:
		return ev, body != "" && mentions(st.El, body, st.To)
	}
	return event{}, false
}

// mentions reports whether a group chat message mentions the account to:
// a XEP-0372 mention reference to its address, or its name (the local
// part, which is the nickname most families use) as a word in the body.
func mentions(msg *xmlstream.Element, body string, to jid.JID) bool {
	for c := range msg.Elements() {
		if c.Is(nsReference, "reference") && c.Get("type") == "mention" && strings.TrimPrefix(c.Get("uri"), "xmpp:") == to.Bare().String() {
			return true
		}
	}
	name := to.Local()
	if name == "" {
		return false
	}
	notWord := func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '.' && r != '-' && r != '_'
	}
	for _, w := range strings.FieldsFunc(body, notWord) {
		if strings.EqualFold(strings.Trim(w, ".-_"), name) {
			return true
		}
	}
	return false
}

// run gathers events into bursts, one notification per burst and
// registration when the burst is due, and forgets answers that never
// came, until ctx is done.
func (p *Push) run(ctx context.Context) error {
	bursts := make(map[string]*burst)
	tick := time.NewTicker(max(p.opts.Burst/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-p.events:
			b := bursts[ev.owner.String()]
			if b == nil {
				b = &burst{owner: ev.owner, due: p.opts.Now().Add(p.opts.Burst)}
				bursts[ev.owner.String()] = b
			}
			if ev.msg {
				b.messages++
				b.sender, b.body = ev.sender, ev.body
			} else {
				b.subscriptions++
			}
		case <-tick.C:
			now := p.opts.Now()
			for owner, b := range bursts {
				if now.Before(b.due) {
					continue
				}
				delete(bursts, owner)
				p.notify(ctx, b.owner, b)
			}
			p.forgetUnanswered(now)
		}
	}
}

// notify publishes one notification of b to each of owner's
// registrations, unless a session woke meanwhile.
func (p *Push) notify(ctx context.Context, owner jid.JID, b *burst) {
	if p.opts.Router.Awake(owner) {
		return
	}
	regs, err := p.registrations(owner)
	if err != nil {
		p.log.LogAttrs(ctx, slog.LevelError, "reading push registrations", slog.String("owner", owner.String()), slog.Any("err", err))
		return
	}
	for _, reg := range regs {
		id := p.idBase + strconv.FormatUint(p.ids.Add(1), 10)
		p.mu.Lock()
		if len(p.waiting) < pendingLimit {
			p.waiting[id] = pending{owner: owner, reg: reg, sent: p.opts.Now()}
		}
		p.mu.Unlock()
		iq := publish(id, owner, reg, b, p.opts.IncludeBody)
		p.log.LogAttrs(ctx, slog.LevelDebug, "push notification", slog.String("owner", owner.String()), slog.String("service", reg.jid.String()),
			slog.Int("messages", b.messages), slog.Int("subscriptions", b.subscriptions))
		p.opts.Router.Route(ctx, &stanza.Stanza{Kind: stanza.IQ, Type: stanza.TypeSet, ID: id, From: owner, To: reg.jid, El: iq})
	}
}

// publish is the notification to one registration (§6): the summary
// form, and the publish options the app server asked for.
func publish(id string, owner jid.JID, reg *registration, b *burst, withBody bool) *xmlstream.Element {
	summary := form.New(form.TypeSubmit, NSSummary)
	if b.messages > 0 {
		summary.Add(form.Field{Var: "message-count", Values: []string{strconv.Itoa(b.messages)}})
	}
	if b.subscriptions > 0 {
		summary.Add(form.Field{Var: "pending-subscription-count", Values: []string{strconv.Itoa(b.subscriptions)}})
	}
	if !b.sender.IsZero() {
		summary.Add(form.Field{Var: "last-message-sender", Values: []string{b.sender.String()}})
	}
	switch {
	case b.messages == 0:
	case withBody && b.body != "":
		summary.Add(form.Field{Var: "last-message-body", Values: []string{b.body}})
	default:
		// As Prosody's mod_cloud_notify does: a body that says nothing
		// marks the notification important, which iOS app servers
		// turn into an alert rather than a silent wake-up.
		summary.Add(form.Field{Var: "last-message-body", Values: []string{placeholder}})
	}
	item := xmlstream.New(nsPubSub, "item").Append(xmlstream.New(NS, "notification").Append(summary.Element()))
	pub := xmlstream.New(nsPubSub, "publish")
	if reg.node != "" {
		pub.SetAttr("node", reg.node)
	}
	ps := xmlstream.New(nsPubSub, "pubsub").Append(pub.Append(item))
	if reg.options != nil {
		ps.Append(xmlstream.New(nsPubSub, "publish-options").Append(reg.options))
	}
	iq := xmlstream.New(xmlstream.NSClient, "iq")
	iq.Attrs = make([]xmlstream.Attr, 0, 4)
	iq.SetAttr("type", stanza.TypeSet).SetAttr("id", id).SetAttr("from", owner.String()).SetAttr("to", reg.jid.String())
	return iq.Append(ps)
}

// answered takes the app server's answer to a notification: an error,
// unless it says to wait, disables the registration (§6.1), as an
// unreachable server's does.
func (p *Push) answered(st *stanza.Stanza) {
	p.mu.Lock()
	w, ok := p.waiting[st.ID]
	if ok && !st.From.Equal(w.reg.jid) {
		ok = false // not from the service it went to: ignore it
	}
	if ok {
		delete(p.waiting, st.ID)
	}
	p.mu.Unlock()
	if !ok || st.Type != stanza.TypeError {
		return
	}
	se := stanza.ParseError(st.El)
	if se != nil && se.Type == stanza.Wait {
		return
	}
	cond := stanza.Condition("")
	if se != nil {
		cond = se.Condition
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	regs, err := p.regsLocked(w.owner)
	if err == nil {
		kept := slices.DeleteFunc(slices.Clone(regs), w.reg.same)
		if len(kept) != len(regs) {
			err = p.saveLocked(w.owner, kept)
		}
	}
	if err != nil {
		p.log.Error("disabling a push registration", "owner", w.owner.String(), "err", err)
		return
	}
	p.log.Info("push registration disabled after an error", "owner", w.owner.String(), "service", w.reg.jid.String(), "condition", string(cond))
}

// unansweredAfter is how long a notification waits for its answer.
const unansweredAfter = 5 * time.Minute

// forgetUnanswered drops notifications no answer came for.
func (p *Push) forgetUnanswered(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, w := range p.waiting {
		if now.Sub(w.sent) > unansweredAfter {
			delete(p.waiting, id)
		}
	}
}
