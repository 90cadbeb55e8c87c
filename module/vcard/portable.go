package vcard

import (
	"strings"

	"roost/xmlstream"
)

// NSVCard4 is the namespace of vCard4 in XML (RFC 6351), which XEP-0292
// publishes in the urn:xmpp:vcard4 PEP node.
const NSVCard4 = "urn:ietf:params:xml:ns:vcard-4.0"

// Photo is an avatar to put in a vCard: an image, base64, or a URL.
type Photo struct {
	Type, BinVal, URL string
}

// FromVCard4 makes a vcard-temp vCard (XEP-0054) from a XEP-0292 profile
// and an avatar (nil for none), for accounts moved from a server that
// keeps profiles in PEP only (Prosody's vcard4 and vcard_legacy modules,
// which answer vcard-temp requests by this same conversion). The
// properties vcard-temp has a place for are taken: the formatted and
// structured names, nickname, birthday, title, role, categories, note (as
// DESC), URL, e-mail addresses, telephone numbers, addresses, XMPP
// addresses (JABBERID) and organisation names, each with its home or work
// type.
func FromVCard4(v4 *xmlstream.Element, photo *Photo) *xmlstream.Element {
	out := xmlstream.New(NS, "vCard")
	text := func(parent *xmlstream.Element, name, value string) {
		if value != "" {
			parent.Append(xmlstream.New(NS, name).AppendText(value))
		}
	}
	child := func(el *xmlstream.Element, name string) string { return el.ChildText(NSVCard4, name) }
	if fn := v4.Child(NSVCard4, "fn"); fn != nil {
		text(out, "FN", child(fn, "text"))
	}
	if n := v4.Child(NSVCard4, "n"); n != nil {
		el := xmlstream.New(NS, "N")
		for _, p := range [][2]string{{"FAMILY", "surname"}, {"GIVEN", "given"}, {"MIDDLE", "additional"}, {"PREFIX", "prefix"}, {"SUFFIX", "suffix"}} {
			text(el, p[0], child(n, p[1]))
		}
		out.Append(el)
	}
	simple := map[string]string{"nickname": "text", "title": "text", "role": "text", "categories": "text", "url": "uri", "bday": "date"}
	for prop := range v4.Elements() {
		if prop.Name.Space != NSVCard4 {
			continue
		}
		switch name := prop.Name.Local; name {
		case "nickname", "title", "role", "categories", "url", "bday":
			text(out, strings.ToUpper(name), child(prop, simple[name]))
		case "note":
			text(out, "DESC", child(prop, "text"))
		case "email":
			if v := child(prop, "text"); v != "" {
				el := xmlstream.New(NS, "EMAIL")
				text(el, "USERID", v)
				el.Append(xmlstream.New(NS, "INTERNET"))
				out.Append(typed(el, prop))
			}
		case "tel":
			if v := strings.TrimPrefix(child(prop, "uri"), "tel:"); v != "" {
				el := xmlstream.New(NS, "TEL")
				text(el, "NUMBER", v)
				out.Append(typed(el, prop))
			}
		case "adr":
			el := xmlstream.New(NS, "ADR")
			for _, p := range [][2]string{{"POBOX", "pobox"}, {"EXTADD", "ext"}, {"STREET", "street"}, {"LOCALITY", "locality"}, {"REGION", "region"}, {"PCODE", "code"}, {"CTRY", "country"}} {
				text(el, p[0], child(prop, p[1]))
			}
			out.Append(typed(el, prop))
		case "impp":
			if v, ok := strings.CutPrefix(child(prop, "uri"), "xmpp:"); ok {
				text(out, "JABBERID", v)
			}
		case "org":
			el := xmlstream.New(NS, "ORG")
			text(el, "ORGNAME", child(prop, "text"))
			out.Append(el)
		}
	}
	if photo != nil && (photo.BinVal != "" || photo.URL != "") {
		el := xmlstream.New(NS, "PHOTO")
		text(el, "TYPE", photo.Type)
		if photo.BinVal != "" {
			text(el, "BINVAL", photo.BinVal)
		} else {
			text(el, "EXTVAL", photo.URL)
		}
		out.Append(el)
	}
	return out
}

// typed adds HOME or WORK to el from the vCard4 property's type
// parameter.
func typed(el, prop *xmlstream.Element) *xmlstream.Element {
	params := prop.Child(NSVCard4, "parameters")
	if params == nil {
		return el
	}
	for t := range params.Child(NSVCard4, "type").Elements() {
		switch t.Text() {
		case "home":
			return el.Append(xmlstream.New(NS, "HOME"))
		case "work":
			return el.Append(xmlstream.New(NS, "WORK"))
		}
	}
	return el
}
