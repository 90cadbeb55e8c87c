package upload

import (
	"fmt"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"roost/stanza"
	"roost/xmlstream"
)

// NS is the HTTP File Upload namespace (XEP-0363 §3).
const NS = "urn:xmpp:http:upload:0"

// Limits on what a slot request may name.
const (
	// maxNameBytes is the longest file name kept: most file systems'
	// limit for one path element.
	maxNameBytes = 255
	// maxTypeBytes bounds a media type with its parameters.
	maxTypeBytes = 255
)

// request is a parsed slot request (XEP-0363 §4).
type request struct {
	name string
	size int64
	// typ is the declared media type, normalised (lowercase type and
	// parameter names), or "" when the client declared none.
	typ string
}

// parseRequest reads a <request/> element. Its errors are bad-request
// stanza errors whose text says what is wrong.
func parseRequest(el *xmlstream.Element) (request, error) {
	if !el.Is(NS, "request") {
		return request{}, stanza.NewError(stanza.BadRequest, "the payload is a <request xmlns='"+NS+"'/>")
	}
	var r request
	var err error
	if r.name, err = checkName(el.Get("filename")); err != nil {
		return request{}, err
	}
	size := el.Get("size")
	// Digits only: ParseInt would take a sign.
	if size == "" || strings.Trim(size, "0123456789") != "" {
		return request{}, stanza.NewError(stanza.BadRequest, "the size must be a whole number of bytes")
	}
	if r.size, err = strconv.ParseInt(size, 10, 64); err != nil {
		return request{}, stanza.NewError(stanza.BadRequest, "the size is too large")
	}
	if r.typ, err = checkType(el.Get("content-type")); err != nil {
		return request{}, err
	}
	return r, nil
}

// checkName accepts a file name as XEP-0363 §4 sends it: one path element,
// kept as it is (§4: the service SHOULD keep the name and its ending
// intact), so it may not contain a slash, a backslash, a control character
// or invalid UTF-8, nor be "." or "..".
func checkName(name string) (string, error) {
	switch {
	case name == "":
		return "", stanza.NewError(stanza.BadRequest, "the request needs a filename")
	case len(name) > maxNameBytes:
		return "", stanza.NewError(stanza.BadRequest, fmt.Sprintf("the filename is longer than %d bytes", maxNameBytes))
	case name == "." || name == "..", !utf8.ValidString(name),
		strings.ContainsFunc(name, func(r rune) bool { return r == '/' || r == '\\' || r < 0x20 || r == 0x7f }):
		return "", stanza.NewError(stanza.BadRequest, "the filename may not contain slashes or control characters")
	}
	return name, nil
}

// checkType parses a declared media type (RFC 9110 §8.3.1) and returns it
// normalised; "" stays "".
func checkType(t string) (string, error) {
	if t == "" {
		return "", nil
	}
	mt, params, err := mime.ParseMediaType(t)
	if err != nil || len(t) > maxTypeBytes || !strings.Contains(mt, "/") {
		return "", stanza.NewError(stanza.BadRequest, "the content-type is not a media type such as image/jpeg")
	}
	return mime.FormatMediaType(mt, params), nil
}

// mediaType returns the lowercase type/subtype of a Content-Type, or "".
func mediaType(t string) string {
	mt, _, err := mime.ParseMediaType(t)
	if err != nil {
		return ""
	}
	return mt
}

// slotElement is the <slot/> answering a request (XEP-0363 §4): the PUT
// URL with the Authorization header the client must send, and the GET URL.
// Both are the same URL: the token, not the address, grants the upload.
func slotElement(link, token string) *xmlstream.Element {
	return xmlstream.New(NS, "slot").Append(
		xmlstream.New(NS, "put").SetAttr("url", link).Append(
			xmlstream.New(NS, "header").SetAttr("name", "Authorization").AppendText("Bearer "+token)),
		xmlstream.New(NS, "get").SetAttr("url", link),
	)
}

// fileTooLarge is the error for a size above the limit (XEP-0363 §5).
func fileTooLarge(limit int64) error {
	return &stanza.Error{
		Type:      stanza.Modify,
		Condition: stanza.NotAcceptable,
		Text:      fmt.Sprintf("File too large. The maximum file size is %d bytes (%s).", limit, humanBytes(limit)),
		App: xmlstream.New(NS, "file-too-large").Append(
			xmlstream.New(NS, "max-file-size").AppendText(strconv.FormatInt(limit, 10))),
	}
}

// link is the URL of a slot under base: base/upload/ID/NAME, the name
// escaped as one path segment.
func link(base, id, name string) string {
	return strings.TrimSuffix(base, "/") + routePrefix + id + "/" + url.PathEscape(name)
}

// humanBytes writes n for people: "100 MiB", "4.8 GiB", "512 bytes".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + [...]string{"KiB", "MiB", "GiB", "TiB", "PiB"}[exp]
}
