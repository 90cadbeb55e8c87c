package prosody

import (
	"fmt"
	"slices"
	"strings"

	"roost/xmlstream"
)

// element turns a stanza as Prosody stores it (util.stanza's
// preserialize: name, attr, and the children in the array part, strings
// for text) into an element. An element without an xmlns attribute is in
// its parent's namespace; parent is the namespace around the top one.
// Attribute names "xml:lang" and "namespace\1name" (how Prosody writes a
// namespaced attribute) get their namespaces. drop lists attributes to
// leave out, such as the stamp internal storage adds to archived items.
func element(t *Table, parent string, depth int, drop ...string) (*xmlstream.Element, error) {
	if depth > 256 {
		return nil, fmt.Errorf("%w: a stanza nested too deep", ErrTooLarge)
	}
	name, ok := t.String("name")
	if !ok || name == "" {
		return nil, fmt.Errorf("%w: a stanza without a name", ErrSyntax)
	}
	el := xmlstream.New(parent, name)
	if attrs := t.Table("attr"); attrs != nil {
		if ns, ok := attrs.String("xmlns"); ok {
			el.Name.Space = ns
		}
		keys := slices.Clone(attrs.Keys)
		for _, k := range keys {
			key, ok := k.(string)
			v, vok := attrs.Map[k].(string)
			if !ok || !vok || key == "xmlns" || slices.Contains(drop, key) {
				continue
			}
			switch {
			case key == "xml:lang":
				el.SetAttrNS(xmlstream.NSXML, "lang", v)
			case strings.Contains(key, "\x01"):
				space, local, _ := strings.Cut(key, "\x01")
				el.SetAttrNS(space, local, v)
			default:
				el.SetAttr(key, v)
			}
		}
	}
	for _, c := range t.Array {
		switch v := c.(type) {
		case string:
			el.AppendText(v)
		case *Table:
			child, err := element(v, el.Name.Space, depth+1)
			if err != nil {
				return nil, err
			}
			el.Append(child)
		}
	}
	return el, nil
}
