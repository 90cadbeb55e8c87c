//go:build interop

package interop

import (
	"testing"
)

// TestInteropClientsTraces checks how the client matrix reads traces and
// roost's log, on lines as profanity, mcabber, poezio and roost write them.
func TestInteropClientsTraces(t *testing.T) {
	for _, tc := range []struct {
		name, trace, want string
	}{
		{"profanity (libstrophe)", `conn: DBG: SENT: <iq id="g9zb" type="set"><enable xmlns="urn:xmpp:carbons:2"/></iq>
xmpp: DBG: RECV: <iq id="g9zb" to="c@m.example/prof" type="result"/>`, "yes"},
		{"mcabber (loudmouth)", `LM-NET: <iq type="set" id="2681"><enable xmlns="urn:xmpp:carbons:2"></enable></iq>
LM-NET: '<iq type="result" id="2681" to="c@m.example/mcabber"/>'`, "yes"},
		{"poezio (slixmpp)", `SEND: <iq id="1efc" type="set"><enable xmlns="urn:xmpp:carbons:2" /></iq>
RECV: <iq type="result" id="1efc" to="c@m.example/poezio-EAzT" />`, "yes"},
		{"refused", `SENT: <iq id="a1" type="set"><enable xmlns="urn:xmpp:carbons:2"/></iq>
RECV: <iq id="a1" type="error"><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`, "no"},
		{"result for another id", `SENT: <iq id="a1" type="set"><enable xmlns="urn:xmpp:carbons:2"/></iq>
RECV: <iq id="a10" type="result"/>`, "no"},
		{"never asked", `RECV: <iq id="a1" type="result"/>`, "no"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := carbonsFromTrace(tc.trace); got != tc.want {
				t.Errorf("carbonsFromTrace = %s, want %s", got, tc.want)
			}
		})
	}

	log := `{"level":"DEBUG","msg":"connected","component":"c2s","conn":4,"direct_tls":false}
{"level":"DEBUG","msg":"connected","component":"c2s","conn":5,"direct_tls":true}
{"level":"DEBUG","msg":"channel binding type not supported","component":"c2s","conn":4,"mechanism":"SCRAM-SHA-256-PLUS"}
{"level":"DEBUG","msg":"authenticated","component":"c2s","conn":4,"user":"a@h.example","mechanism":"SCRAM-SHA-256"}
{"level":"DEBUG","msg":"authenticated","component":"c2s","conn":5,"user":"a@h.example","mechanism":"PLAIN"}
{"level":"DEBUG","msg":"stream management enabled","component":"c2s","conn":4,"jid":"a@h.example/x","resume_asked":true}
{"level":"DEBUG","msg":"connected","component":"s2s","conn":4,"direct_tls":true}
not json`
	got := c2sConns(log)["a@h.example"]
	want := []connRecord{
		{conn: "4", mechanism: "SCRAM-SHA-256", plusFirst: true, sm: true, resume: true},
		{conn: "5", directTLS: true, mechanism: "PLAIN"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d connections, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if *got[i] != want[i] {
			t.Errorf("connection %d: got %+v, want %+v", i, *got[i], want[i])
		}
	}
}
