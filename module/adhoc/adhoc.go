package adhoc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"roost/discoinfo"
	"roost/form"
	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// NS is the ad-hoc commands namespace, also the node of the command list
// (XEP-0050 §2.2).
const NS = "http://jabber.org/protocol/commands"

// Statuses and actions (XEP-0050 §3.4).
const (
	StatusExecuting = "executing"
	StatusCompleted = "completed"
	StatusCanceled  = "canceled"

	ActionExecute  = "execute"
	ActionComplete = "complete"
	ActionNext     = "next"
	ActionCancel   = "cancel"
	ActionPrev     = "prev"
)

// Options configure a Module.
type Options struct {
	// Commands are the commands served, in the order listed.
	Commands []module.Command
	// Domains are the hosted domains: only their accounts run commands.
	Domains []string
	// SessionTimeout forgets a command waiting for its form (default 10m).
	SessionTimeout time.Duration
	// MaxSessions is how many commands one account may have waiting at
	// once (default 10); the oldest gives way.
	MaxSessions int
	Now         func() time.Time
	Logger      *slog.Logger
}

// Module serves ad-hoc commands.
type Module struct {
	opts Options
	now  func() time.Time
	log  *slog.Logger

	mu   sync.Mutex
	sess map[string]*session // by session ID
}

// session is a command waiting for its submitted form.
type session struct {
	node      string
	requester jid.JID // the full JID that started it
	started   time.Time
}

// New returns the module.
func New(opts Options) *Module {
	if opts.SessionTimeout <= 0 {
		opts.SessionTimeout = 10 * time.Minute
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 10
	}
	m := &Module{opts: opts, now: opts.Now, log: opts.Logger, sess: map[string]*session{}}
	if m.now == nil {
		m.now = time.Now
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	return m
}

// Name implements module.Module.
func (m *Module) Name() string { return "adhoc" }

// Register implements module.Module.
func (m *Module) Register(r *module.Registry) {
	r.IQ(stanza.TypeSet, NS, "command", m)
	r.ServerFeatures(NS)
	r.ServerNodes(m)
}

// local reports whether requester is an account of a hosted domain.
func (m *Module) local(requester jid.JID) bool {
	return requester.Local() != "" && slices.Contains(m.opts.Domains, requester.Domain())
}

// allowed reports whether requester may see and run c.
func (m *Module) allowed(ctx context.Context, requester jid.JID, c *module.Command) bool {
	if !m.local(requester) {
		return false
	}
	return c.Allowed == nil || c.Allowed(ctx, requester)
}

func (m *Module) command(node string) *module.Command {
	for i := range m.opts.Commands {
		if m.opts.Commands[i].Node == node {
			return &m.opts.Commands[i]
		}
	}
	return nil
}

// NodeItems implements module.ServerNodes: the command list (§2.2), only
// the commands requester may run.
func (m *Module) NodeItems(ctx context.Context, requester jid.JID, node string) ([]module.NodeItem, bool) {
	if node == NS {
		var items []module.NodeItem
		for i := range m.opts.Commands {
			if c := &m.opts.Commands[i]; m.allowed(ctx, requester, c) {
				items = append(items, module.NodeItem{Node: c.Node, Name: c.Name})
			}
		}
		return items, true
	}
	if c := m.command(node); c != nil {
		return nil, true // a command node has no items (§2.3)
	}
	return nil, false
}

// NodeInfo implements module.ServerNodes: a command node is an
// automation/command-node that takes data forms (§2.3).
func (m *Module) NodeInfo(ctx context.Context, requester jid.JID, node string) (discoinfo.Info, bool) {
	if node == NS {
		return discoinfo.Info{Identities: []discoinfo.Identity{{Category: "automation", Type: "command-list", Name: "Commands"}}}, true
	}
	c := m.command(node)
	if c == nil || !m.allowed(ctx, requester, c) {
		return discoinfo.Info{}, false
	}
	return discoinfo.Info{
		Identities: []discoinfo.Identity{{Category: "automation", Type: "command-node", Name: c.Name}},
		Features:   []string{NS, form.NS},
	}, true
}

// cmdError is a stanza error with one of XEP-0050's specific conditions
// (§4.6).
func cmdError(cond stanza.Condition, specific, text string) error {
	e := stanza.NewError(cond, text)
	if specific != "" {
		e.App = xmlstream.New(NS, specific)
	}
	return e
}

// HandleStanza runs one stage of a command.
func (m *Module) HandleStanza(ctx context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	if st.To.Local() != "" {
		// Commands of the server only: an account's own commands would
		// be its clients' (§2).
		return nil, stanza.NewError(stanza.ServiceUnavailable, "")
	}
	cmd := st.El.Child(NS, "command")
	node := cmd.Get("node")
	c := m.command(node)
	if c == nil {
		return nil, stanza.NewError(stanza.ItemNotFound, "no such command")
	}
	if !m.allowed(ctx, st.From, c) {
		return nil, stanza.NewError(stanza.Forbidden, "you may not run this command")
	}
	action := cmd.Get("action")
	id := cmd.Get("sessionid")
	if id == "" {
		if action != "" && action != ActionExecute {
			return nil, cmdError(stanza.BadRequest, "malformed-action", "a command starts with execute")
		}
		return m.start(ctx, st, c)
	}
	s, err := m.take(id, node, st.From)
	if err != nil {
		return nil, err
	}
	switch action {
	case ActionCancel:
		return reply(st, node, id, StatusCanceled, module.CommandResult{}), nil
	case "", ActionExecute, ActionComplete, ActionNext:
	case ActionPrev:
		m.put(id, s) // still waiting for the form
		return nil, cmdError(stanza.BadRequest, "bad-action", "this command has no previous stage")
	default:
		m.put(id, s)
		return nil, cmdError(stanza.BadRequest, "malformed-action", "unknown action")
	}
	var submitted *form.Form
	if x := cmd.Child(form.NS, "x"); x != nil {
		if submitted, err = form.Parse(x); err != nil {
			return nil, stanza.NewError(stanza.BadRequest, err.Error())
		}
	}
	if submitted == nil || submitted.Type != form.TypeSubmit {
		m.put(id, s)
		return nil, cmdError(stanza.BadRequest, "bad-payload", "submit the command's form")
	}
	res, err := c.Run(ctx, st.From, submitted)
	if err != nil {
		return nil, m.runError(ctx, node, err)
	}
	return reply(st, node, id, StatusCompleted, res), nil
}

// start executes a command's first stage; if it returns a form to fill
// in, a session waits for it.
func (m *Module) start(ctx context.Context, st *stanza.Stanza, c *module.Command) (*xmlstream.Element, error) {
	res, err := c.Run(ctx, st.From, nil)
	if err != nil {
		return nil, m.runError(ctx, c.Node, err)
	}
	id := newID()
	if !res.Next() {
		return reply(st, c.Node, id, StatusCompleted, res), nil
	}
	m.put(id, &session{node: c.Node, requester: st.From, started: m.now()})
	return reply(st, c.Node, id, StatusExecuting, res), nil
}

// runError passes a command's stanza error on; any other error is
// logged and answered with internal-server-error.
func (m *Module) runError(ctx context.Context, node string, err error) error {
	if se := (*stanza.Error)(nil); errors.As(err, &se) {
		return se
	}
	m.log.LogAttrs(ctx, slog.LevelError, "ad-hoc command failed", slog.String("node", node), slog.Any("err", err))
	return stanza.NewError(stanza.InternalServerError, "the command failed")
}

// put keeps a waiting session, within the account's limit.
func (m *Module) put(id string, s *session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire()
	var oldest string
	n := 0
	for k, o := range m.sess {
		if o.requester.Bare().Equal(s.requester.Bare()) {
			n++
			if oldest == "" || o.started.Before(m.sess[oldest].started) {
				oldest = k
			}
		}
	}
	if n >= m.opts.MaxSessions {
		delete(m.sess, oldest)
	}
	m.sess[id] = s
}

// take removes and returns the session id of node started by requester.
func (m *Module) take(id, node string, requester jid.JID) (*session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sess[id]
	switch {
	case s == nil:
		m.expire()
		return nil, cmdError(stanza.BadRequest, "bad-sessionid", "no such session: it may have expired; start the command again")
	case s.node != node || !s.requester.Equal(requester):
		return nil, cmdError(stanza.BadRequest, "bad-sessionid", "this session belongs to another command or requester")
	case m.now().Sub(s.started) >= m.opts.SessionTimeout:
		delete(m.sess, id)
		return nil, cmdError(stanza.NotAllowed, "session-expired", "this command waited too long; start it again")
	}
	delete(m.sess, id)
	return s, nil
}

// expire forgets timed-out sessions; m.mu is held.
func (m *Module) expire() {
	cut := m.now().Add(-m.opts.SessionTimeout)
	for k, s := range m.sess {
		if s.started.Before(cut) {
			delete(m.sess, k)
		}
	}
}

// Waiting returns how many sessions wait for a form.
func (m *Module) Waiting() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sess)
}

// reply is the <command/> answer of one stage (§3.4).
func reply(st *stanza.Stanza, node, id, status string, res module.CommandResult) *xmlstream.Element {
	c := xmlstream.New(NS, "command").SetAttr("node", node).SetAttr("sessionid", id).SetAttr("status", status)
	if status == StatusExecuting {
		// One stage left: the only action is complete (§3.4, "actions").
		c.Append(xmlstream.New(NS, "actions").SetAttr("execute", ActionComplete).Append(xmlstream.New(NS, ActionComplete)))
	}
	if res.Note != "" {
		typ := res.NoteType
		if typ == "" {
			typ = "info"
		}
		c.Append(xmlstream.New(NS, "note").SetAttr("type", typ).AppendText(res.Note))
	}
	if res.Form != nil {
		c.Append(res.Form.Element())
	}
	return stanza.ResultIQ(st, c)
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}
