// Package upload is HTTP File Upload (XEP-0363): the service
// upload.<domain> that hands out upload slots, and the HTTPS side that
// takes each slot's file and serves it.
//
// # Slots
//
// A client asks the service for a slot with an IQ get carrying
// <request filename size content-type/> (§4). Only accounts of the
// server's own domains may ask (not-allowed otherwise). The file name must
// be one path element (bad-request otherwise), the size a whole number of
// bytes, the type a media type if given. A size above the limit is
// not-acceptable with <file-too-large><max-file-size/> (§5), and the same
// limit is in the service's disco#info form (§3), built with package form.
// A slot that would exceed the owner's or the server's quota, or leave the
// disk with less than the configured free space, is resource-constraint
// with a text that says which and why. Otherwise the slot's record is
// reserved in the store (quotas are checked in the same transaction, so
// concurrent requests cannot overshoot together) and the answer is one
// URL, https://<base>/upload/<ID>/<name>, for both PUT and GET, with an
// Authorization header for the PUT. The ID is 16 random bytes (128 bits,
// base64url), so URLs cannot be guessed (§8).
//
// # The PUT token
//
// The Authorization header carries a token: an expiry and an HMAC-SHA256,
// keyed with a secret kept in the data file, over the slot ID, the
// declared size and type and the expiry (see token.go). It needs no
// storage and cannot be moved to another slot, size, type or time; the
// record then makes the PUT happen once: a slot whose record is complete
// answers 409.
//
// # HTTP
//
// The server mounts [Route] on its HTTPS listener. A PUT must carry the
// token (403 otherwise; 410 once the slot has lapsed), a Content-Length
// equal to the declared size (411 without one, 413 above, 400 below) and,
// when a type was declared, that type (400; §6). An owner runs at most
// Options.MaxConcurrent PUTs at once (429), a slot one (409). The body is
// written to a temporary file, fsynced and renamed to the slot's ID only
// when all of it arrived; a cut, slow or failed upload removes its
// temporary file, so nothing partial is ever served, and a full disk
// answers 507 (RFC 4918 §11.5) while the server carries on. Only then is
// the record marked complete, to expire after Options.ExpireAfter; 201 says
// the file is ready (§6).
//
// GET and HEAD serve a complete, unexpired body through
// net/http.ServeContent (Range, conditional requests) with a long
// immutable Cache-Control, an ETag, Content-Disposition carrying the name,
// X-Content-Type-Options: nosniff and a Content-Security-Policy that runs
// nothing. Only passive media (common image formats, audio, video, plain
// text) are served as their type and inline; anything else, HTML and SVG
// included, is application/octet-stream and an attachment. Every response
// allows any origin (CORS, for web clients), and OPTIONS answers
// preflights. A path that is not exactly /upload/<ID>/<one segment> — dot
// segments, encoded slashes, a malformed ID — is 404.
//
// Transfers are paced (pace.go): a PUT or GET that moves nothing for
// Options.TransferTimeout, or averages less than Options.MinRate after
// that grace, is cut. This replaces the HTTPS server's short read and
// write timeouts for the request, so a large file on a slow link
// completes while a slowloris client does not hold a connection.
//
// # Storage
//
// Bodies are files in the data directory ([DirName]), named by slot ID;
// records, owners, quotas and expiry are in the store. The background job
// deletes lapsed slots and expired files every ten minutes, record first,
// and at start (and after an account deletion, whose records the store
// removes with the account) removes bodies without a complete record and
// temporary files left by a crash. [Module.HoldFiles] pauses deletions so
// that a backup copies a fixed set of files.
//
// # Concurrency
//
// A Module is safe for concurrent use: slot requests and HTTP requests
// run on their connections' goroutines; the in-progress PUTs are tracked
// under a mutex; the sweeper is one goroutine owned by the server.
package upload
