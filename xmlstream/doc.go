// Package xmlstream reads and writes the subset of XML that XMPP streams use
// (RFC 6120 §11).
//
// # Reading
//
// A [Decoder] reads one stream: the optional XML declaration and the stream
// header ([Decoder.ReadHeader]), then one top-level element at a time
// ([Decoder.ReadElement]) until the closing stream tag ([ErrStreamEnd]).
// Whitespace between top-level elements (keepalives, RFC 6120 §4.6.1) is
// skipped.
//
// The decoder is namespace-correct: every [Name] carries the resolved
// namespace URI, never a prefix, and namespace declarations made on the
// stream header stay in scope for every element of the stream. Declarations
// are consumed while parsing; the encoder writes whatever declarations the
// tree needs.
//
// [Decoder.ResetFragment] reads standalone elements instead, with no
// stream header and only each element's own declarations in scope: the
// messages of XMPP over WebSocket (RFC 7395 §3.3.3), one decoder reused
// for every message of a connection.
//
// It enforces RFC 6120 §11.1 and the limits in [Limits]:
//   - comments, processing instructions (other than the XML declaration
//     before a stream header), DTDs and entity references other than the
//     five predefined ones are rejected with restricted-xml;
//   - malformed XML, undeclared prefixes, duplicate attributes, invalid
//     UTF-8 and characters outside the XML Char production are rejected
//     with not-well-formed;
//   - a top-level element larger than [Limits.MaxStanzaBytes], deeper than
//     [Limits.MaxDepth], with more than [Limits.MaxAttrs] attributes on an
//     element or more than [Limits.MaxElements] elements and attributes in
//     all is rejected with policy-violation. The size is checked each
//     time the decoder is about to read more input, so it never buffers more
//     than the limit plus one read buffer.
//
// Every failure is an [*Error] whose Condition names the RFC 6120 §4.9.3
// stream error it maps to.
//
// # Memory
//
// An idle decoder owns only its small fixed read buffer. While a top-level
// element is being read, its tokens and character data collect in scratch
// space borrowed from a pool and returned once the element is built. A
// finished element costs a handful of allocations whatever its size: one
// string holding all names, values and text, and one slab each for elements,
// attributes and child nodes.
//
// # Trees
//
// [Element] is a compact tree. Elements are immutable once they are shared
// (for example, handed to a router or queued on more than one session): to
// change one, make a shallow copy with [Element.WithAttr] and friends. The
// mutating builders ([Element.SetAttr], [Element.Append]) are for elements a
// caller has just created and not yet shared.
//
// # Writing
//
// [AppendElement] serialises a tree into a caller-owned buffer. Elements in
// the content namespaces jabber:client, jabber:server and
// jabber:component:accept (XEP-0114) directly below the stream, or below
// another content-namespace element, are written as the stream's own content
// namespace (RFC 6120 §4.8.3), so a stanza read from a server or component
// stream can be written to a client stream unchanged. Elements in the
// streams namespace are written with the "stream" prefix (§4.8.1).
// [AppendFrame] writes an element standalone, every namespace declared, for
// a WebSocket message (RFC 7395), a stanza in either content namespace as
// the stream's.
//
// # Source files
//
// The decoder is one type spread over files by concern: decoder.go holds
// [Decoder] and the loop over top-level elements; header.go the XML
// declaration and the stream header; tag.go start and end tags; names.go
// XML names and namespace resolution; chardata.go character data, CDATA
// sections and references; input.go the read buffer, the only place input
// enters; limits.go [Limits]. build.go turns what was read into an
// [Element]; element.go and encode.go are the tree and its encoder;
// condition.go the content stream and stanza errors share (RFC 6120
// §4.9.2, §8.3.2).
//
// # Concurrency
//
// A Decoder is used by one goroutine. Elements may be read concurrently by
// any number of goroutines once built.
package xmlstream
