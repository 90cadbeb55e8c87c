// Package accept runs the accept loop shared by roost's listeners (client
// and server streams, the port-443 dispatcher). A temporary Accept error,
// such as running out of file descriptors, is retried after a pause that
// doubles up to a second, as net/http does, so that a burst of
// connections does not end a server; any other error ends the loop.
package accept
