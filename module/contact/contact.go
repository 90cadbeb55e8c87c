package contact

import (
	"roost/form"
	"roost/module"
)

// FormType is the FORM_TYPE of the contact addresses (XEP-0157 §3).
const FormType = "http://jabber.org/network/serverinfo"

// Addresses are the URIs (mailto:, xmpp:, https:, ...) of each kind
// XEP-0157 §3 names.
type Addresses struct {
	Admin, Abuse, Support, Security, Feedback, Sales []string
}

// Module publishes the addresses.
type Module struct{ f *form.Form }

// New returns the module.
func New(a Addresses) *Module {
	f := form.New(form.TypeResult, FormType)
	for _, k := range []struct {
		v    string
		uris []string
	}{
		{"abuse-addresses", a.Abuse}, {"admin-addresses", a.Admin}, {"feedback-addresses", a.Feedback},
		{"sales-addresses", a.Sales}, {"security-addresses", a.Security}, {"support-addresses", a.Support},
	} {
		if len(k.uris) > 0 {
			f.Add(form.Field{Var: k.v, Type: form.ListMulti, Values: k.uris})
		}
	}
	if len(f.Fields) == 1 {
		return &Module{}
	}
	return &Module{f: f}
}

// Name implements module.Module.
func (m *Module) Name() string { return "contact" }

// Register implements module.Module.
func (m *Module) Register(r *module.Registry) {
	if m.f != nil {
		r.ServerForm(m.f)
	}
}
