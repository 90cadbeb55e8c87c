package xmpptest

import (
	"context"
	"sync"
	"testing"

	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// Session is a client session that records what the server sends it, for
// tests that bind sessions to a router directly.
type Session struct {
	mu  sync.Mutex
	got []*xmlstream.Element
}

// Send records el; it never refuses.
func (s *Session) Send(el *xmlstream.Element) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, el)
	return true
}

// Close does nothing: the test decides when a session ends.
func (s *Session) Close(error) {}

// Take returns what the session received since the last Take.
func (s *Session) Take() []*xmlstream.Element {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.got
	s.got = nil
	return g
}

// TakeFirst removes and returns the first element received that match
// accepts, or nil.
func (s *Session) TakeFirst(match func(*xmlstream.Element) bool) *xmlstream.Element {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, el := range s.got {
		if match(el) {
			s.got = append(s.got[:i:i], s.got[i+1:]...)
			return el
		}
	}
	return nil
}

// Peek returns what the session received since the last Take, keeping it.
func (s *Session) Peek() []*xmlstream.Element {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*xmlstream.Element(nil), s.got...)
}

// Router is what Clients needs of a router, S its session interface:
// *router.Router is a Router[router.Session].
type Router[S any] interface {
	Bind(ctx context.Context, full jid.JID, s S) error
	Unbind(ctx context.Context, full jid.JID, s S)
	FromClient(ctx context.Context, st *stanza.Stanza)
	Route(ctx context.Context, st *stanza.Stanza)
}

// Clients are recording sessions bound to a router, by full JID, for
// tests of what the router and its modules do with stanzas.
type Clients[S any] struct {
	T        testing.TB
	R        Router[S]
	Sessions map[string]*Session
}

// Connect binds a new session for full.
func (c *Clients[S]) Connect(full string) {
	c.T.Helper()
	s := &Session{}
	if c.Sessions == nil {
		c.Sessions = make(map[string]*Session)
	}
	c.Sessions[full] = s
	if err := c.R.Bind(context.Background(), jid.MustParse(full), any(s).(S)); err != nil {
		c.T.Fatal(err)
	}
}

// Disconnect ends full's session without unavailable presence, as a
// dropped connection does.
func (c *Clients[S]) Disconnect(full string) {
	c.R.Unbind(context.Background(), jid.MustParse(full), any(c.Sessions[full]).(S))
	delete(c.Sessions, full)
}

// Send has the session full send xml, as c2s hands it over.
func (c *Clients[S]) Send(full, xml string) {
	c.T.Helper()
	st := Stanza(c.T, xml)
	st.From = jid.MustParse(full)
	c.R.FromClient(context.Background(), st)
}

// Inbound delivers xml as if from another server.
func (c *Clients[S]) Inbound(xml string) {
	c.T.Helper()
	c.R.Route(context.Background(), Stanza(c.T, xml))
}
