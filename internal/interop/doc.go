// Package interop tests roost against software nobody here wrote: real
// XMPP clients (slixmpp, aioxmpp, profanity, mcabber, go-sendxmpp,
// poezio) and, for federation, real servers (Prosody, ejabberd). The tests
// build the roost binary, run it as a separate process on its own loopback
// address (127.0.0.2, 127.0.0.3, ...) with standard ports, and drive it
// with the peers: python drivers in testdata for the libraries, tmux for
// the terminal clients (keys typed, screens read), and Node scripts for
// JavaScript clients. Those are one Node project, testdata/node: its
// package-lock.json pins @xmpp/client, converse.js and playwright-core,
// and `make interop` installs them (npm ci) when it changes; a test run
// without them fails saying so (node_test.go).
//
// TestInteropConsoleBrowser shows the admin console and the invitation
// page to Debian's chromium, driven by playwright-core (testdata/node,
// console.mjs); it keeps a screenshot of each page in internal/interop/artifacts/console for
// people to look at.
//
// TestInteropWeb is the web: converse.js in Debian's chromium (headless,
// driven by playwright-core from testdata/node/converse.mjs) logs in
// through its form, finds the WebSocket through host-meta on port 443,
// and chats with slixmpp and profanity; @xmpp/client under Node is a
// second WebSocket client. Screenshots go to -artifacts (artifacts/web by
// default). TestInteropWebChatAppLocal is roost's own chat page without
// the Internet: roost serves converse.js from the files `make chat-app`
// fetches (as the .deb installs them), the CDN is blocked, and a login
// and a chat must work all the same (artifacts/chat-app).
//
// TestInteropClients is the client matrix: each client on each transport
// is a seat that runs in parallel with the others against one roost; it
// writes docs/clients.md when run with -clients-doc (make clients-doc).
//
// The tests carry the build tag "interop" and run with `make interop`
// (part of `make test`); they need the Debian packages and the Node
// runtime .ci/run installs.
// Nothing leaves the loopback interface.
package interop
