package pep

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"roost/form"
	"roost/xmlstream"
)

// Moving accounts between servers (roost export and import): a node
// record as XEP-0227 carries it, the way Prosody's xep0227 driver writes
// it, and back. The record format stays this package's own.

// NodeForm returns what a stored node record holds in the terms of an
// export: the configuration as a submitted node_config form (XEP-0060
// §8.2) with every field the node has, the affiliations the owner gave
// (bare JID → member, publisher or outcast) and the subscribers.
func NodeForm(rec []byte) (config *xmlstream.Element, affs map[string]string, subs []string, err error) {
	n, err := decodeNode(rec)
	if err != nil {
		return nil, nil, nil, err
	}
	f := form.New(form.TypeSubmit, FormNodeConfig)
	for _, fd := range configFields() {
		f.Add(form.Field{Var: fd.v, Values: fd.get(&n.Config)})
	}
	return f.Element(), maps.Clone(n.Affs), slices.Clone(n.Subs), nil
}

// NodeRecord makes a node record from an exported node: the node
// configuration form (nil for the defaults of XEP-0163 §5, which are
// Prosody's too), the affiliations and the subscribers. Fields a form
// leaves without a value keep their defaults, as Prosody's own export
// lists every field and sets only the ones changed. What PEP here cannot
// take (an access model it does not offer, an affiliation other than
// member, publisher or outcast) is left at the default or out, and
// described in skipped. The server's item limit is not applied here: a
// node that asks for more items keeps as many as the server allows when
// it is used.
func NodeRecord(config *xmlstream.Element, affs map[string]string, subs []string) (rec []byte, skipped []string, err error) {
	c := defaultConfig()
	if config != nil {
		f, err := form.Parse(config)
		if err != nil {
			return nil, nil, fmt.Errorf("read node configuration: %w", err)
		}
		fields := configFields()
		for _, fl := range f.Fields {
			fd := fields.byVar(fl.Var)
			if fd == nil || len(fl.Values) == 0 {
				continue
			}
			want := c
			if err := fd.set(&want, fl.Values, math.MaxInt32); err != nil {
				skipped = append(skipped, fmt.Sprintf("%s %q", fl.Var, fl.Values))
				continue
			}
			c = want
		}
		if c.Access == accessRoster && len(c.Groups) == 0 {
			skipped = append(skipped, "pubsub#access_model roster without roster groups: presence instead")
			c.Access = accessPresence
		}
	}
	n := newNode(c)
	for _, j := range slices.Sorted(maps.Keys(affs)) {
		switch a := affs[j]; a {
		case affMember, affPublisher, affOutcast:
			if n.Affs == nil {
				n.Affs = make(map[string]string)
			}
			n.Affs[j] = a
		case affOwner, affNone:
		default:
			skipped = append(skipped, fmt.Sprintf("affiliation %q of %s", a, j))
		}
	}
	n.Subs = slices.Clone(subs)
	return n.encode(), skipped, nil
}
