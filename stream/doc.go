// Package stream holds what client and server streams share (RFC 6120 §4):
// the stream header, stream features and stream errors.
//
// [ParseHeader] validates a received header: the streams namespace
// (invalid-namespace otherwise), the content namespace the connection type
// expects, and version 1.0 (unsupported-version otherwise, §4.7.5).
// [AppendHeader] writes our own header. Namespace declarations are written
// explicitly because the header is the one element left open for the whole
// stream.
//
// Over WebSocket (RFC 7395) the stream tags are framed: a stream opens with
// an <open/> element in [NSFraming], whose attributes are those of a
// header ([ParseOpen], [AppendOpen]), and closes with <close/>
// ([FramedClose]), each a message of its own.
//
// [Error] is the stream error of §4.9 as a typed value; [Error.Is] matches
// on the condition. A stream error is always followed by closing the
// stream, which the connection owner does after writing [Error.Element].
// [FromDecodeError] maps parse failures of package xmlstream to the stream
// error the peer must receive.
//
// [ServerOptions] are the options a server of pinged streams (c2s,
// component) configures alike, with their defaults in one place.
package stream
