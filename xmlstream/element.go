package xmlstream

import (
	"iter"
	"strings"
	"unsafe"
)

// Namespace URIs the package itself needs to know.
const (
	// NSXML is bound to the "xml" prefix by definition (XML Namespaces §3).
	NSXML = "http://www.w3.org/XML/1998/namespace"
	// NSStream qualifies the stream header, features and stream errors.
	NSStream = "http://etherx.jabber.org/streams"
	// NSClient and NSServer are the content namespaces of client and server
	// streams (RFC 6120 §4.8.2).
	NSClient = "jabber:client"
	NSServer = "jabber:server"
	// NSComponent is the content namespace of external component streams
	// (XEP-0114 §3): their stanzas are the same message, presence and iq.
	NSComponent = "jabber:component:accept"

	nsXMLNS = "http://www.w3.org/2000/xmlns/"
)

// Name is a namespace-qualified name. Space is the resolved namespace URI
// ("" for no namespace), never a prefix.
type Name struct {
	Space, Local string
}

// Attr is an attribute. Values are unescaped.
type Attr struct {
	Name  Name
	Value string
}

// Node is one child of an element: an element when Elem is non-nil,
// otherwise character data in Text.
type Node struct {
	Text string
	Elem *Element
}

// Element is an XML element with its attributes and children, in document
// order. See the package documentation for the sharing rules.
type Element struct {
	Name     Name
	Attrs    []Attr
	Children []Node
}

// New returns an empty element, for building a stanza or payload.
func New(space, local string) *Element {
	return &Element{Name: Name{Space: space, Local: local}}
}

// Is reports whether the element has the given namespace and local name.
func (e *Element) Is(space, local string) bool {
	return e != nil && e.Name.Local == local && e.Name.Space == space
}

// Get returns the value of the unqualified attribute local, or "".
func (e *Element) Get(local string) string {
	for i := range e.Attrs {
		if a := &e.Attrs[i]; a.Name.Local == local && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// Attr returns the value of the attribute with the given name.
func (e *Element) Attr(space, local string) (string, bool) {
	for i := range e.Attrs {
		if a := &e.Attrs[i]; a.Name.Local == local && a.Name.Space == space {
			return a.Value, true
		}
	}
	return "", false
}

// Lang returns the element's own xml:lang attribute, or "".
func (e *Element) Lang() string {
	v, _ := e.Attr(NSXML, "lang")
	return v
}

// Child returns the first child element with the given name, or nil.
func (e *Element) Child(space, local string) *Element {
	if e == nil {
		return nil
	}
	for _, n := range e.Children {
		if n.Elem != nil && n.Elem.Name.Local == local && n.Elem.Name.Space == space {
			return n.Elem
		}
	}
	return nil
}

// FirstChild returns the first child element, or nil. For an IQ this is
// the payload.
func (e *Element) FirstChild() *Element {
	if e == nil {
		return nil
	}
	for _, n := range e.Children {
		if n.Elem != nil {
			return n.Elem
		}
	}
	return nil
}

// Elements yields the child elements in order.
func (e *Element) Elements() iter.Seq[*Element] {
	return func(yield func(*Element) bool) {
		if e == nil {
			return
		}
		for _, n := range e.Children {
			if n.Elem != nil && !yield(n.Elem) {
				return
			}
		}
	}
}

// Text returns the character data directly inside the element.
func (e *Element) Text() string {
	if e == nil {
		return ""
	}
	var first string
	var buf []byte
	n := 0
	for _, c := range e.Children {
		if c.Elem != nil || c.Text == "" {
			continue
		}
		switch n {
		case 0:
			first = c.Text
		case 1:
			buf = append([]byte(first), c.Text...)
		default:
			buf = append(buf, c.Text...)
		}
		n++
	}
	if n <= 1 {
		return first
	}
	return string(buf)
}

// HasContent reports whether e has a child element or text other than
// whitespace; attributes do not count.
func (e *Element) HasContent() bool {
	for _, n := range e.Children {
		if n.Elem != nil || strings.TrimSpace(n.Text) != "" {
			return true
		}
	}
	return false
}

// ChildText returns the text of the first child element with the given
// name, or "".
func (e *Element) ChildText(space, local string) string {
	return e.Child(space, local).Text()
}

// SetAttr sets the unqualified attribute local to value, replacing an
// existing one, and returns e. It mutates e: use it only on elements that
// are not shared.
func (e *Element) SetAttr(local, value string) *Element {
	for i := range e.Attrs {
		if a := &e.Attrs[i]; a.Name.Local == local && a.Name.Space == "" {
			a.Value = value
			return e
		}
	}
	e.Attrs = append(e.Attrs, Attr{Name: Name{Local: local}, Value: value})
	return e
}

// SetAttrNS is SetAttr for a namespace-qualified attribute.
func (e *Element) SetAttrNS(space, local, value string) *Element {
	for i := range e.Attrs {
		if a := &e.Attrs[i]; a.Name.Local == local && a.Name.Space == space {
			a.Value = value
			return e
		}
	}
	e.Attrs = append(e.Attrs, Attr{Name: Name{Space: space, Local: local}, Value: value})
	return e
}

// Append adds child elements and returns e. It mutates e.
func (e *Element) Append(children ...*Element) *Element {
	for _, c := range children {
		if c != nil {
			e.Children = append(e.Children, Node{Elem: c})
		}
	}
	return e
}

// AppendText adds character data and returns e. It mutates e.
func (e *Element) AppendText(s string) *Element {
	if s != "" {
		e.Children = append(e.Children, Node{Text: s})
	}
	return e
}

// WithAttr returns a shallow copy of e with the unqualified attribute local
// set to value. Children are shared with e.
func (e *Element) WithAttr(local, value string) *Element {
	c := &Element{Name: e.Name, Children: e.Children}
	c.Attrs = make([]Attr, len(e.Attrs), len(e.Attrs)+1)
	copy(c.Attrs, e.Attrs)
	return c.SetAttr(local, value)
}

// WithAttrs returns a shallow copy of e with each unqualified attribute in
// kv (pairs of name, value) set; an empty value removes the attribute.
// Children are shared with e. It allocates once for the copy.
func (e *Element) WithAttrs(kv ...string) *Element {
	c := &Element{Name: e.Name, Children: e.Children}
	c.Attrs = make([]Attr, 0, len(e.Attrs)+len(kv)/2)
outer:
	for _, a := range e.Attrs {
		if a.Name.Space == "" {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == a.Name.Local {
					continue outer
				}
			}
		}
		c.Attrs = append(c.Attrs, a)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			c.Attrs = append(c.Attrs, Attr{Name: Name{Local: kv[i]}, Value: kv[i+1]})
		}
	}
	return c
}

// WithChildren returns a shallow copy of e (sharing its attributes) whose
// children are replaced by the given nodes.
func (e *Element) WithChildren(children []Node) *Element {
	return &Element{Name: e.Name, Attrs: e.Attrs, Children: children}
}

// Clone returns a deep copy of e. Strings are shared (they are immutable).
func (e *Element) Clone() *Element {
	if e == nil {
		return nil
	}
	c := &Element{Name: e.Name}
	if len(e.Attrs) > 0 {
		c.Attrs = append([]Attr(nil), e.Attrs...)
	}
	if len(e.Children) > 0 {
		c.Children = make([]Node, len(e.Children))
		for i, n := range e.Children {
			c.Children[i] = Node{Text: n.Text, Elem: n.Elem.Clone()}
		}
	}
	return c
}

// Equal reports whether a and b are the same tree: names, attributes (in
// any order) and children (in order, adjacent text merged) are equal.
func Equal(a, b *Element) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Name != b.Name || len(a.Attrs) != len(b.Attrs) {
		return false
	}
	for _, x := range a.Attrs {
		if v, ok := b.Attr(x.Name.Space, x.Name.Local); !ok || v != x.Value {
			return false
		}
	}
	ac, bc := mergedNodes(a.Children), mergedNodes(b.Children)
	if len(ac) != len(bc) {
		return false
	}
	for i := range ac {
		if ac[i].Text != bc[i].Text || !Equal(ac[i].Elem, bc[i].Elem) {
			return false
		}
	}
	return true
}

// mergedNodes joins adjacent text nodes and drops empty ones, so that trees
// that serialise identically compare equal.
func mergedNodes(ns []Node) []Node {
	out := make([]Node, 0, len(ns))
	for _, n := range ns {
		if n.Elem == nil {
			if n.Text == "" {
				continue
			}
			if k := len(out); k > 0 && out[k-1].Elem == nil {
				out[k-1].Text += n.Text
				continue
			}
		}
		out = append(out, n)
	}
	return out
}

// String returns the serialised element, for logs at debug level and tests.
func (e *Element) String() string {
	if e == nil {
		return "<nil>"
	}
	return string(AppendElement(nil, e, ""))
}

// Footprint estimates the memory the tree under e holds, in bytes: its
// elements, attributes and child nodes, and the names, values and text they
// refer to. Namespace names are left out, as they are shared with every
// other element in the same namespace. It is what a queue of elements
// counts to be bounded in bytes; it walks the tree and allocates nothing.
func (e *Element) Footprint() int {
	if e == nil {
		return 0
	}
	n := int(unsafe.Sizeof(Element{})) + len(e.Name.Local)
	for i := range e.Attrs {
		a := &e.Attrs[i]
		n += int(unsafe.Sizeof(Attr{})) + len(a.Name.Local) + len(a.Value)
	}
	for i := range e.Children {
		c := &e.Children[i]
		n += int(unsafe.Sizeof(Node{})) + len(c.Text) + c.Elem.Footprint()
	}
	return n
}
