package stream

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"roost/xmlstream"
)

func readHeader(t *testing.T, s string) (*xmlstream.Element, string) {
	t.Helper()
	d := xmlstream.NewDecoder(strings.NewReader(s), xmlstream.Limits{})
	el, err := d.ReadHeader()
	if err != nil {
		t.Fatalf("ReadHeader(%q): %v", s, err)
	}
	return el, d.ContentNamespace()
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Header
		cond Condition
	}{{
		name: "client stream",
		in:   `<stream:stream to='example.org' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' xml:lang='en'>`,
		want: Header{To: "example.org", Version: "1.0", Lang: "en", ContentNS: xmlstream.NSClient},
	}, {
		name: "any prefix for the streams namespace",
		in:   `<s:stream to='example.org' xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams' version='1.0'>`,
		want: Header{To: "example.org", Version: "1.0", ContentNS: xmlstream.NSClient},
	}, {
		name: "higher minor version",
		in:   `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.5'>`,
		want: Header{Version: "1.5", ContentNS: xmlstream.NSClient},
	}, {
		name: "wrong streams namespace",
		in:   `<stream:stream xmlns='jabber:client' xmlns:stream='http://wrong.example/streams' version='1.0'>`,
		cond: InvalidNamespace,
	}, {
		name: "server content namespace on a client stream",
		in:   `<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`,
		cond: InvalidNamespace,
	}, {
		name: "no version",
		in:   `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`,
		cond: UnsupportedVersion,
	}, {
		name: "version 2",
		in:   `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='2.0'>`,
		cond: UnsupportedVersion,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			el, ns := readHeader(t, tc.in)
			got, serr := ParseHeader(el, ns, xmlstream.NSClient)
			if tc.cond != "" {
				if serr == nil || serr.Condition != tc.cond {
					t.Fatalf("error = %v, want %s", serr, tc.cond)
				}
				return
			}
			if serr != nil {
				t.Fatalf("unexpected error %v", serr)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestAppendHeaderRoundTrip(t *testing.T) {
	h := Header{From: "example.org", To: "a&b", ID: "xyz", Version: "1.0", Lang: "en", ContentNS: xmlstream.NSServer, Dialback: true}
	wire := string(AppendHeader(nil, h))
	el, ns := readHeader(t, wire)
	got, serr := ParseHeader(el, ns, xmlstream.NSServer)
	if serr != nil {
		t.Fatalf("ParseHeader(%s): %v", wire, serr)
	}
	h.Dialback = false // not reported by ParseHeader
	if got != h {
		t.Errorf("round trip: got %+v, want %+v", got, h)
	}
	if !strings.Contains(wire, `xmlns:db="jabber:server:dialback"`) {
		t.Errorf("header %s lacks the dialback declaration", wire)
	}
}

func TestErrorElement(t *testing.T) {
	e := &Error{Condition: Conflict, Text: "Replaced by new connection"}
	got := string(xmlstream.AppendElement(nil, e.Element(), xmlstream.NSClient))
	want := `<stream:error><conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"/><text xmlns="urn:ietf:params:xml:ns:xmpp-streams" xml:lang="en">Replaced by new connection</text></stream:error>`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	back := ParseError(e.Element())
	if back.Condition != Conflict || back.Text != e.Text {
		t.Errorf("ParseError = %+v", back)
	}
	if !errors.Is(e, &Error{Condition: Conflict}) || errors.Is(e, &Error{Condition: Reset}) {
		t.Error("Is does not match on condition")
	}
}

func TestFromDecodeError(t *testing.T) {
	d := xmlstream.NewDecoder(strings.NewReader(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><!-- x -->`), xmlstream.Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	_, err := d.ReadElement()
	se := FromDecodeError(err)
	if se == nil || se.Condition != RestrictedXML {
		t.Fatalf("FromDecodeError(%v) = %v, want restricted-xml", err, se)
	}
	if FromDecodeError(errors.New("connection reset")) != nil {
		t.Error("an I/O error mapped to a stream error")
	}
}

func TestNewID(t *testing.T) {
	a, b := NewID(), NewID()
	if a == b || len(a) < 22 {
		t.Errorf("NewID() = %q, %q: want distinct ids of 128 bits", a, b)
	}
}

func TestCloseReason(t *testing.T) {
	if r := CloseReason(errors.New("connection reset")); r != nil {
		t.Errorf("CloseReason(I/O error) = %#v, want an untyped nil", r)
	}
	se := &Error{Condition: PolicyViolation}
	if r := CloseReason(fmt.Errorf("reading: %w", se)); r != se {
		t.Errorf("CloseReason(wrapped stream error) = %v, want it", r)
	}
}

func TestNegotiationFailure(t *testing.T) {
	shutdown := &Error{Condition: SystemShutdown}
	tests := []struct {
		name     string
		err      error
		shutdown error
		want     Condition // "" with send: the closing tag alone
		send     bool
	}{
		{"a stream error", &Error{Condition: HostUnknown}, nil, HostUnknown, true},
		{"a parse error", &xmlstream.Error{Condition: xmlstream.CondRestrictedXML}, nil, RestrictedXML, true},
		{"interrupted by shutdown", os.ErrDeadlineExceeded, shutdown, SystemShutdown, true},
		{"a parse error wins over shutdown", &Error{Condition: NotWellFormed}, shutdown, NotWellFormed, true},
		{"too slow", os.ErrDeadlineExceeded, nil, ConnectionTimeout, true},
		{"the peer closed its stream", xmlstream.ErrStreamEnd, nil, "", true},
		{"the connection failed", errors.New("connection reset"), nil, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			se, send := NegotiationFailure(tc.err, tc.shutdown)
			got := Condition("")
			if se != nil {
				got = se.Condition
			}
			if got != tc.want || send != tc.send {
				t.Errorf("NegotiationFailure(%v, %v) = %q, %v; want %q, %v", tc.err, tc.shutdown, got, send, tc.want, tc.send)
			}
		})
	}
}

func TestAppendEnd(t *testing.T) {
	if got := string(AppendEnd([]byte("x"), nil, xmlstream.NSClient)); got != "x"+Close {
		t.Errorf("AppendEnd without error = %q", got)
	}
	got := string(AppendEnd(nil, &Error{Condition: PolicyViolation, Text: "no"}, xmlstream.NSServer))
	want := `<stream:error><policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-streams"/><text xmlns="urn:ietf:params:xml:ns:xmpp-streams" xml:lang="en">no</text></stream:error></stream:stream>`
	if got != want {
		t.Errorf("AppendEnd = %s\nwant %s", got, want)
	}
}

func TestBeforeTLS(t *testing.T) {
	const hdr = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`
	tests := []struct {
		name  string
		after string
		want  Condition // "" for accepted
	}{
		{"nothing", "", ""},
		{"a newline", "\n", ""},
		{"spaces and tabs", " \t \t", ""},
		{"an element", "<message/>", PolicyViolation},
		{"whitespace, then an element", "\r\n<message/>", PolicyViolation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := xmlstream.NewDecoder(strings.NewReader(hdr+`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`+tc.after), xmlstream.Limits{})
			if _, err := d.ReadHeader(); err != nil {
				t.Fatal(err)
			}
			if _, err := d.ReadElement(); err != nil {
				t.Fatal(err)
			}
			err := BeforeTLS(d)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("BeforeTLS = %v, want nil", err)
			case tc.want != "" && !errors.Is(err, &Error{Condition: tc.want}):
				t.Errorf("BeforeTLS = %v, want %s", err, tc.want)
			}
		})
	}
}

func TestEndNegotiation(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name   string
		err    error
		header string
		want   string // what the peer reads; "" with sent false
		sent   bool
	}{
		{"stream error after our header", &Error{Condition: HostUnknown}, "",
			`<stream:error><host-unknown xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error></stream:stream>`, true},
		{"stream error before our header", &Error{Condition: HostUnknown}, "<stream:stream>",
			`<stream:stream><stream:error><host-unknown xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error></stream:stream>`, true},
		{"the peer closed its stream", xmlstream.ErrStreamEnd, "", Close, true},
		{"the connection failed", errors.New("connection reset"), "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			got := make(chan string, 1)
			go func() {
				all, _ := io.ReadAll(b)
				got <- string(all)
			}()
			var hdr []byte
			if tc.header != "" {
				hdr = []byte(tc.header)
			}
			sent := EndNegotiation(a, tc.err, nil, hdr, xmlstream.NSClient, time.Second, log)
			a.Close()
			if s := <-got; sent != tc.sent || s != tc.want {
				t.Errorf("EndNegotiation sent %v, the peer read %q; want %v, %q", sent, s, tc.sent, tc.want)
			}
		})
	}
}

func TestParseOpen(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Header
		cond Condition
	}{{
		name: "open",
		in:   `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="example.com" version="1.0" xml:lang="en"/>`,
		want: Header{To: "example.com", Version: "1.0", Lang: "en"},
	}, {
		name: "a stream header in a message",
		in:   `<stream:stream xmlns:stream="http://etherx.jabber.org/streams" to="example.com" version="1.0"/>`,
		want: Header{To: "example.com", Version: "1.0"},
		cond: InvalidNamespace,
	}, {
		name: "open in another namespace",
		in:   `<open xmlns="jabber:client" to="example.com" version="1.0"/>`,
		want: Header{To: "example.com", Version: "1.0"},
		cond: InvalidNamespace,
	}, {
		name: "no version",
		in:   `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="example.com"/>`,
		want: Header{To: "example.com"},
		cond: UnsupportedVersion,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			el, err := xmlstream.Parse([]byte(tc.in), xmlstream.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			h, serr := ParseOpen(el)
			if h != tc.want {
				t.Errorf("header %+v, want %+v", h, tc.want)
			}
			switch {
			case tc.cond == "" && serr != nil:
				t.Errorf("error %v, want none", serr)
			case tc.cond != "" && (serr == nil || serr.Condition != tc.cond):
				t.Errorf("error %v, want %s", serr, tc.cond)
			}
		})
	}
}

// TestAppendOpenRoundTrip: what AppendOpen writes is a standalone element
// that ParseOpen reads back.
func TestAppendOpenRoundTrip(t *testing.T) {
	want := Header{From: "example.com", ID: "a&b", Version: "1.0", Lang: "en"}
	b := AppendOpen(nil, Header{From: want.From, ID: want.ID, Version: want.Version, Lang: want.Lang, ContentNS: xmlstream.NSClient, Dialback: true})
	if s := string(b); s != `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" id="a&amp;b" from="example.com" version="1.0" xml:lang="en"/>` {
		t.Errorf("AppendOpen wrote %s", s)
	}
	el, err := xmlstream.Parse(b, xmlstream.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got, serr := ParseOpen(el)
	if serr != nil || got != want {
		t.Errorf("read back %+v, %v; want %+v", got, serr, want)
	}
	el, err = xmlstream.Parse([]byte(FramedClose), xmlstream.Limits{})
	if err != nil || !el.Is(NSFraming, "close") {
		t.Errorf("FramedClose reads as %v, %v", el, err)
	}
}
