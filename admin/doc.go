// Package admin is the protocol between the roost command line and a
// running server, over a unix socket.
//
// bbolt locks its file, so while the server runs no other process can open
// the store; admin subcommands (user add, backup, ...) ask the server
// instead. The socket is created with mode 0600, or 0660 for a configured
// group, in a directory only the server's user can write.
//
// # Protocol
//
// One request per connection: the client writes a JSON [Request] on one
// line, the server answers with a JSON [Response] on one line. A backup
// response is followed by exactly Response.Size bytes of the store file.
// Passwords cross the socket only, never a command line.
//
// # Roles
//
// [Serve] runs the server side over a [Backend] that the server package
// implements. [Client] implements the same operations over the socket, so
// the command line uses either the running server or, when it is stopped,
// the store directly, through one interface.
package admin
