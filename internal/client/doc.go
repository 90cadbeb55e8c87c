// Package client is a minimal XMPP client: STARTTLS or direct TLS, SASL
// (SCRAM with or without channel binding, PLAIN, XEP-0474 downgrade
// checks), SASL2 with Bind 2, inline resumption and FAST tokens
// (sasl2.go), resource binding, and raw element exchange. It exists for
// roost's own tests and load tool, which need exact control over what goes
// on the wire and little overhead; it is not a general-purpose client
// library.
package client
