package component

import (
	"io"
	"testing"
	"time"

	"roost/internal/xmpptest"
	"roost/xmlstream"
)

// BenchmarkCheck measures the check of one stanza from a component, the
// per-stanza cost on the way in.
func BenchmarkCheck(b *testing.B) {
	el, err := componentElement(`<message from='#chan%irc.example.net@irc.example.org/bob' to='alice@example.org/phone' type='groupchat' id='m1'><body>hello there</body></message>`)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := check(ircDomain, el); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSend measures the way out: a stanza handed to Send, queued,
// serialised and written to a component that reads as fast as it can.
func BenchmarkSend(b *testing.B) {
	// Send never blocks: room for what the writer has not caught up with.
	s, _, addr := testServer(b, func(o *Options) { o.QueueDepth = 1 << 20 })
	p := xmpptest.ConnectComponent(b, addr, ircDomain, ircSecret)
	_ = p.Conn.SetDeadline(time.Time{})
	go func() { _, _ = io.Copy(io.Discard, p.Conn) }()
	msg := xmlstream.New(xmlstream.NSClient, "message").SetAttr("from", "alice@example.org/phone").
		SetAttr("to", "#chan%irc.example.net@"+ircDomain).SetAttr("type", "groupchat").
		Append(xmlstream.New(xmlstream.NSClient, "body").AppendText("hello there"))
	b.ReportAllocs()
	for b.Loop() {
		if !s.Send(ircDomain, msg) {
			b.Fatal("Send refused")
		}
	}
}
