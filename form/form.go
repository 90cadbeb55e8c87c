package form

import (
	"errors"
	"fmt"
	"slices"

	"roost/xmlstream"
)

// NS is the data forms namespace.
const NS = "jabber:x:data"

// Form types (XEP-0004 §3.1).
const (
	TypeForm   = "form"
	TypeSubmit = "submit"
	TypeCancel = "cancel"
	TypeResult = "result"
)

// Field types (XEP-0004 §3.3).
const (
	Boolean     = "boolean"
	Fixed       = "fixed"
	Hidden      = "hidden"
	JIDMulti    = "jid-multi"
	JIDSingle   = "jid-single"
	ListMulti   = "list-multi"
	ListSingle  = "list-single"
	TextMulti   = "text-multi"
	TextPrivate = "text-private"
	TextSingle  = "text-single"
)

// FormTypeVar is the var of the hidden field naming a form's meaning
// (XEP-0068).
const FormTypeVar = "FORM_TYPE"

// Errors.
var (
	// ErrMalformed: the element is not a well-formed data form.
	ErrMalformed = errors.New("form: malformed data form")
	// ErrNotBoolean: a field's value is not one of XEP-0004's booleans.
	ErrNotBoolean = errors.New("form: not a boolean")
)

// Option is one choice of a list field.
type Option struct {
	Label, Value string
}

// Field is one field of a form.
type Field struct {
	Var, Type, Label, Desc string
	Required               bool
	Values                 []string
	Options                []Option
}

// Value returns the field's first value, or "".
func (f *Field) Value() string {
	if f == nil || len(f.Values) == 0 {
		return ""
	}
	return f.Values[0]
}

// Form is a data form.
type Form struct {
	Type         string
	Title        string
	Instructions []string
	Fields       []Field
	// Reported and Items are the table of a multi-item result (§3.4).
	Reported []Field
	Items    [][]Field
}

// New returns a form of type typ whose FORM_TYPE is formType ("" for
// none).
func New(typ, formType string) *Form {
	f := &Form{Type: typ}
	if formType != "" {
		f.Fields = append(f.Fields, Field{Var: FormTypeVar, Type: Hidden, Values: []string{formType}})
	}
	return f
}

// Add appends fields and returns f.
func (f *Form) Add(fields ...Field) *Form {
	f.Fields = append(f.Fields, fields...)
	return f
}

// Field returns the field named v, or nil.
func (f *Form) Field(v string) *Field {
	for i := range f.Fields {
		if f.Fields[i].Var == v {
			return &f.Fields[i]
		}
	}
	return nil
}

// FormType returns the value of the FORM_TYPE field, or "".
func (f *Form) FormType() string { return f.Field(FormTypeVar).Value() }

// Value returns the first value of field v, or "".
func (f *Form) Value(v string) string { return f.Field(v).Value() }

// Values returns the values of field v.
func (f *Form) Values(v string) []string {
	if fl := f.Field(v); fl != nil {
		return fl.Values
	}
	return nil
}

// Has reports whether the form has a field v.
func (f *Form) Has(v string) bool { return f.Field(v) != nil }

// Bool returns the boolean value of field v; ok is false when the field is
// absent or has no value.
func (f *Form) Bool(v string) (val, ok bool, err error) {
	fl := f.Field(v)
	if fl == nil || len(fl.Values) == 0 {
		return false, false, nil
	}
	val, err = ParseBool(fl.Values[0])
	if err != nil {
		return false, true, fmt.Errorf("field %s: %w", v, err)
	}
	return val, true, nil
}

// ParseBool reads an XEP-0004 boolean: "1" or "true", "0" or "false".
func ParseBool(s string) (bool, error) {
	switch s {
	case "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	}
	return false, fmt.Errorf("%w: %q", ErrNotBoolean, s)
}

// FormatBool writes b as XEP-0004 does in its examples.
func FormatBool(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Find returns the first data form child of parent whose FORM_TYPE is
// formType ("" matches any form), parsed; nil when there is none. A child
// that does not parse is skipped for a specific formType and returned as
// the error for "".
func Find(parent *xmlstream.Element, formType string) (*Form, error) {
	for ch := range parent.Elements() {
		if !ch.Is(NS, "x") {
			continue
		}
		f, err := Parse(ch)
		if err != nil {
			if formType == "" {
				return nil, err
			}
			continue
		}
		if formType == "" || f.FormType() == formType {
			return f, nil
		}
	}
	return nil, nil
}

// Parse reads a <x xmlns='jabber:x:data'/> element.
func Parse(el *xmlstream.Element) (*Form, error) {
	if !el.Is(NS, "x") {
		return nil, fmt.Errorf("%w: not a jabber:x:data x element", ErrMalformed)
	}
	f := &Form{Type: el.Get("type")}
	switch f.Type {
	case TypeForm, TypeSubmit, TypeCancel, TypeResult:
	default:
		return nil, fmt.Errorf("%w: form type %q", ErrMalformed, f.Type)
	}
	seen := map[string]bool{}
	for ch := range el.Elements() {
		if ch.Name.Space != NS {
			continue // extensions are ignored (§3.1 allows none, be lenient)
		}
		switch ch.Name.Local {
		case "title":
			f.Title = ch.Text()
		case "instructions":
			f.Instructions = append(f.Instructions, ch.Text())
		case "field":
			fl, err := parseField(ch, f.Type)
			if err != nil {
				return nil, err
			}
			if fl.Var != "" {
				if seen[fl.Var] {
					return nil, fmt.Errorf("%w: field %q listed twice", ErrMalformed, fl.Var)
				}
				seen[fl.Var] = true
			}
			f.Fields = append(f.Fields, fl)
		case "reported":
			for r := range ch.Elements() {
				if r.Is(NS, "field") {
					fl, err := parseField(r, TypeResult)
					if err != nil {
						return nil, err
					}
					f.Reported = append(f.Reported, fl)
				}
			}
		case "item":
			var item []Field
			for r := range ch.Elements() {
				if r.Is(NS, "field") {
					fl, err := parseField(r, TypeResult)
					if err != nil {
						return nil, err
					}
					item = append(item, fl)
				}
			}
			f.Items = append(f.Items, item)
		}
	}
	return f, nil
}

func parseField(el *xmlstream.Element, formType string) (Field, error) {
	fl := Field{Var: el.Get("var"), Type: el.Get("type"), Label: el.Get("label")}
	switch fl.Type {
	case "", Boolean, Fixed, Hidden, JIDMulti, JIDSingle, ListMulti, ListSingle, TextMulti, TextPrivate, TextSingle:
	default:
		return Field{}, fmt.Errorf("%w: field type %q", ErrMalformed, fl.Type)
	}
	if fl.Var == "" && fl.Type != Fixed && formType != TypeResult && formType != TypeForm {
		// §3.2: every field but a fixed one has a var; results and
		// forms written by others are read leniently.
		return Field{}, fmt.Errorf("%w: field without var", ErrMalformed)
	}
	for ch := range el.Elements() {
		if ch.Name.Space != NS {
			continue
		}
		switch ch.Name.Local {
		case "value":
			fl.Values = append(fl.Values, ch.Text())
		case "required":
			fl.Required = true
		case "desc":
			fl.Desc = ch.Text()
		case "option":
			fl.Options = append(fl.Options, Option{Label: ch.Get("label"), Value: ch.ChildText(NS, "value")})
		}
	}
	if fl.Type == Boolean && len(fl.Values) > 0 {
		if _, err := ParseBool(fl.Values[0]); err != nil {
			return Field{}, fmt.Errorf("%w: field %q: %w", ErrMalformed, fl.Var, err)
		}
	}
	return fl, nil
}

// Element returns the form as a new <x xmlns='jabber:x:data'/> element.
func (f *Form) Element() *xmlstream.Element {
	x := xmlstream.New(NS, "x").SetAttr("type", f.Type)
	if f.Title != "" {
		x.Append(xmlstream.New(NS, "title").AppendText(f.Title))
	}
	for _, in := range f.Instructions {
		x.Append(xmlstream.New(NS, "instructions").AppendText(in))
	}
	for i := range f.Fields {
		x.Append(fieldElement(&f.Fields[i], f.Type == TypeSubmit))
	}
	if len(f.Reported) > 0 {
		r := xmlstream.New(NS, "reported")
		for i := range f.Reported {
			r.Append(fieldElement(&f.Reported[i], false))
		}
		x.Append(r)
	}
	for _, item := range f.Items {
		it := xmlstream.New(NS, "item")
		for i := range item {
			it.Append(fieldElement(&item[i], true))
		}
		x.Append(it)
	}
	return x
}

// fieldElement writes a field; a submitted form carries only var and
// values (§3.2: the rest is for the form's author).
func fieldElement(fl *Field, bare bool) *xmlstream.Element {
	el := xmlstream.New(NS, "field")
	if fl.Var != "" {
		el.SetAttr("var", fl.Var)
	}
	if !bare || fl.Var == FormTypeVar {
		if fl.Type != "" {
			el.SetAttr("type", fl.Type)
		}
	}
	if !bare {
		if fl.Label != "" {
			el.SetAttr("label", fl.Label)
		}
		if fl.Desc != "" {
			el.Append(xmlstream.New(NS, "desc").AppendText(fl.Desc))
		}
		if fl.Required {
			el.Append(xmlstream.New(NS, "required"))
		}
	}
	for _, v := range fl.Values {
		el.Append(xmlstream.New(NS, "value").AppendText(v))
	}
	if !bare {
		for _, o := range fl.Options {
			opt := xmlstream.New(NS, "option")
			if o.Label != "" {
				opt.SetAttr("label", o.Label)
			}
			el.Append(opt.Append(xmlstream.New(NS, "value").AppendText(o.Value)))
		}
	}
	return el
}

// Allowed reports whether the values of a list field are among its
// options (a field with no options allows anything).
func (fl *Field) Allowed(values ...string) bool {
	if len(fl.Options) == 0 {
		return true
	}
	for _, v := range values {
		if !slices.ContainsFunc(fl.Options, func(o Option) bool { return o.Value == v }) {
			return false
		}
	}
	return true
}
