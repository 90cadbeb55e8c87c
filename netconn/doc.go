// Package netconn is the connection plumbing every roost listener shares:
// client streams (c2s), server streams (s2s), the port-443 dispatcher
// (httpd), the admin socket, and any later listener kind such as external
// components (XEP-0114). It knows sockets, not XMPP: it imports only the
// standard library and golang.org/x/time/rate.
//
// (It was called accept while it held only the accept loop; it is named
// for what it now holds, the life of a network connection from accept to
// close.)
//
// # Accepting
//
// A [Set] is one server's listeners and connections. [Set.Serve] runs the
// accept loop: a temporary Accept error, such as running out of file
// descriptors (EMFILE), is retried after a pause that doubles from 5 ms up
// to a second, as net/http does, so that a burst of connections does not
// end a server; any other error ends the loop. [Set.Add] registers a
// connection, refusing it (and closing it) while the set shuts down or
// when its address already has [Set]'s per-address limit of connections;
// with [Set.EvictUnauthenticated], a full address instead evicts its
// oldest connection not yet marked [Set.Authenticated], so that a crowd
// of silent connections from one NAT address cannot lock out the people
// behind it (evicted connections still closing are bounded by the limit
// too).
// [Set.Go] serves a connection on a goroutine of its own that recovers a
// panic, logs it with its stack and closes only that connection.
// [Set.Shutdown] stops the listeners, asks every connection to end (a
// stream error, the closing tag), and waits for them, or for its context,
// after which the ones left are cut. A [Phase] tells that request whether
// the connection still negotiates (interrupt its read: the negotiation
// sends the error) or runs (close it like any stream). A new listener kind needs a few lines:
//
//	conns := netconn.NewSet[*myConn](maxPerIP, log)
//	go conns.Serve(ln, func(nc net.Conn) {
//		if c, ok := conns.Add(nc, func() *myConn { return newMyConn(nc) }); ok {
//			conns.Go(c, func() { c.serve(ctx) })
//		}
//	})
//	...
//	err := conns.Shutdown(ctx, (*myConn).endGracefully, (*myConn).abort)
//
// # Addresses
//
// Connections are counted per address group ([AddrKey]): an IPv4 address,
// or the /64 network of an IPv6 address. A home or mobile subscriber gets
// a whole /64 (RFC 6177 and the IPv6 address plans of ISPs), so counting
// single IPv6 addresses would let one host take 2^64 times the limit.
// IPv4-mapped IPv6 addresses count as their IPv4 address.
//
// # Reading
//
// A [Reader] sits between a connection and the XML decoder. It moves a
// sliding read deadline forward as data arrives, at most once per second
// (a timer update in the runtime saved on most reads), so that any
// traffic, whitespace keepalives included, keeps a stream alive; it can
// hold an absolute deadline instead, for a negotiation. It limits the
// sustained read rate with a token bucket (golang.org/x/time/rate),
// pausing the reading goroutine while the connection is over its rate,
// which pushes back on the sender through TCP. It allocates nothing per
// read. Only one goroutine reads; the deadline methods may be called from
// any goroutine, and [Reader.Linger] and [Reader.Interrupt] fix a last
// deadline that nothing moves again.
//
// # Writing and closing
//
// Write buffers come from one pool ([GetBuffer], [PutBuffer]) shared by
// every connection, so that a connection holds one only while it writes
// and an idle one holds none. After the closing tag a connection lingers
// ([Linger], [Reader.Drain]) for at most [LingerTime] to let the peer
// close its side (RFC 6120 §4.4), reading and discarding what it still
// sends, so that the kernel does not reset the connection over unread
// data and lose the stream error on its way out.
package netconn
