package discoinfo

import (
	"cmp"
	"crypto/sha1" //nolint:gosec // XEP-0115 §5.1 names SHA-1; the string is an identifier, not a security boundary
	"encoding/base64"
	"errors"
	"fmt"
	"slices"

	"roost/form"
	"roost/xmlstream"
)

// Namespaces.
const (
	NSInfo  = "http://jabber.org/protocol/disco#info"
	NSItems = "http://jabber.org/protocol/disco#items"
)

// ErrInvalid: the information cannot be hashed for caps (XEP-0115 §5.4).
var ErrInvalid = errors.New("discoinfo: invalid for entity capabilities")

// Identity is one <identity/> of a disco#info result.
type Identity struct {
	Category, Type, Lang, Name string
}

// Compare orders identities as XEP-0115 §5.1 sorts them.
func (a Identity) Compare(b Identity) int {
	return cmp.Or(cmp.Compare(a.Category, b.Category), cmp.Compare(a.Type, b.Type),
		cmp.Compare(a.Lang, b.Lang), cmp.Compare(a.Name, b.Name))
}

// Info is what an entity says about itself.
type Info struct {
	Identities []Identity
	Features   []string
	// Forms are XEP-0128 extension forms, each of type result with a
	// FORM_TYPE.
	Forms []*form.Form
}

// Has reports whether the info lists feature.
func (in *Info) Has(feature string) bool { return slices.Contains(in.Features, feature) }

// Normalized returns a copy with disco#info and disco#items added to the
// features (every responder serves them), identities and features sorted
// and deduplicated.
func (in Info) Normalized() Info {
	ids := slices.Clone(in.Identities)
	slices.SortFunc(ids, Identity.Compare)
	ids = slices.Compact(ids)
	fs := append([]string{NSInfo, NSItems}, in.Features...)
	slices.Sort(fs)
	return Info{Identities: ids, Features: slices.Compact(fs), Forms: in.Forms}
}

// Query returns a new disco#info query element carrying in, for node ("":
// none). Call it on a normalized Info.
func (in Info) Query(node string) *xmlstream.Element {
	q := xmlstream.New(NSInfo, "query")
	if node != "" {
		q.SetAttr("node", node)
	}
	q.Children = make([]xmlstream.Node, 0, len(in.Identities)+len(in.Features)+len(in.Forms))
	for _, id := range in.Identities {
		el := xmlstream.New(NSInfo, "identity").SetAttr("category", id.Category).SetAttr("type", id.Type)
		if id.Lang != "" {
			el.SetAttrNS(xmlstream.NSXML, "lang", id.Lang)
		}
		if id.Name != "" {
			el.SetAttr("name", id.Name)
		}
		q.Append(el)
	}
	for _, f := range in.Features {
		q.Append(xmlstream.New(NSInfo, "feature").SetAttr("var", f))
	}
	for _, f := range in.Forms {
		q.Append(f.Element())
	}
	return q
}

// Parse reads a disco#info query (a result's payload). Forms that do not
// parse are left out: they carry no meaning the server acts on.
func Parse(q *xmlstream.Element) (Info, error) {
	if !q.Is(NSInfo, "query") {
		return Info{}, fmt.Errorf("%w: not a disco#info query", ErrInvalid)
	}
	var in Info
	for ch := range q.Elements() {
		switch {
		case ch.Is(NSInfo, "identity"):
			lang, _ := ch.Attr(xmlstream.NSXML, "lang")
			in.Identities = append(in.Identities, Identity{Category: ch.Get("category"), Type: ch.Get("type"), Lang: lang, Name: ch.Get("name")})
		case ch.Is(NSInfo, "feature"):
			in.Features = append(in.Features, ch.Get("var"))
		case ch.Is(form.NS, "x"):
			if f, err := form.Parse(ch); err == nil {
				in.Forms = append(in.Forms, f)
			}
		}
	}
	return in, nil
}

// Ver computes the verification string of XEP-0115 §5.1 with SHA-1, the
// hash every client uses. It checks the rules of §5.4 first.
func (in Info) Ver() (string, error) {
	ids := slices.Clone(in.Identities)
	slices.SortFunc(ids, Identity.Compare)
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			return "", fmt.Errorf("%w: identity %+v twice", ErrInvalid, ids[i])
		}
	}
	fs := slices.Clone(in.Features)
	slices.Sort(fs)
	for i := 1; i < len(fs); i++ {
		if fs[i] == fs[i-1] {
			return "", fmt.Errorf("%w: feature %q twice", ErrInvalid, fs[i])
		}
	}
	type typed struct {
		ft string
		f  *form.Form
	}
	var forms []typed
	for _, f := range in.Forms {
		fl := f.Field(form.FormTypeVar)
		if fl == nil {
			continue // §5.4 3.6: forms without FORM_TYPE are ignored
		}
		if fl.Type != form.Hidden {
			return "", fmt.Errorf("%w: FORM_TYPE of type %q", ErrInvalid, fl.Type)
		}
		forms = append(forms, typed{fl.Value(), f})
	}
	slices.SortFunc(forms, func(a, b typed) int { return cmp.Compare(a.ft, b.ft) })
	for i := 1; i < len(forms); i++ {
		if forms[i].ft == forms[i-1].ft {
			return "", fmt.Errorf("%w: two forms of type %q", ErrInvalid, forms[i].ft)
		}
	}

	var s []byte
	for _, id := range ids {
		s = append(s, id.Category...)
		s = append(s, '/')
		s = append(s, id.Type...)
		s = append(s, '/')
		s = append(s, id.Lang...)
		s = append(s, '/')
		s = append(s, id.Name...)
		s = append(s, '<')
	}
	for _, f := range fs {
		s = append(s, f...)
		s = append(s, '<')
	}
	for _, t := range forms {
		s = append(s, t.ft...)
		s = append(s, '<')
		fields := slices.Clone(t.f.Fields)
		slices.SortFunc(fields, func(a, b form.Field) int { return cmp.Compare(a.Var, b.Var) })
		for _, fl := range fields {
			if fl.Var == form.FormTypeVar {
				continue
			}
			s = append(s, fl.Var...)
			s = append(s, '<')
			vals := slices.Clone(fl.Values)
			slices.Sort(vals)
			for _, v := range vals {
				s = append(s, v...)
				s = append(s, '<')
			}
		}
	}
	sum := sha1.Sum(s) //nolint:gosec // see the import
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}
