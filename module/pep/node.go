package pep

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"roost/form"
	"roost/stanza"
)

// Access models (XEP-0060 §4.5). authorize is not offered: PEP has no one
// to ask but the owner's clients, which do not implement it.
const (
	accessOpen      = "open"
	accessPresence  = "presence"
	accessRoster    = "roster"
	accessWhitelist = "whitelist"
)

// Values of pubsub#send_last_published_item (XEP-0060 §12.4).
const (
	sendNever       = "never"
	sendOnSub       = "on_sub"
	sendOnPresence  = "on_sub_and_presence"
	notifyHeadline  = "headline"
	notifyNormal    = "normal"
	publishModel    = "publishers"
	maxItemsMaximum = "max"
)

// Affiliations an owner may give others (XEP-0060 §4.1). A PEP node has
// one publisher, the account (XEP-0163 §2.2): publisher is accepted and
// reads like member.
const (
	affOwner     = "owner"
	affMember    = "member"
	affPublisher = "publisher"
	affOutcast   = "outcast"
	affNone      = "none"
)

// config is a node's configuration (XEP-0060 §8.2, the node_config form).
type config struct {
	Title       string `json:"title,omitempty"`
	Description string `json:"desc,omitempty"`
	Type        string `json:"type,omitempty"`
	Access      string `json:"access"`
	// Groups are pubsub#roster_groups_allowed, for the roster model.
	Groups []string `json:"groups,omitempty"`
	// MaxItems is how many items the node keeps; 0 is "max", the
	// server's limit, whatever it is when the node is read.
	MaxItems      int    `json:"max"`
	Persist       bool   `json:"persist"`
	SendLast      string `json:"sendlast"`
	Notify        bool   `json:"notify"`   // pubsub#deliver_notifications
	Payloads      bool   `json:"payloads"` // pubsub#deliver_payloads
	NotifyRetract bool   `json:"retract"`
	NotifyDelete  bool   `json:"delete"`
	// Normal sends notifications as normal messages instead of headlines
	// (pubsub#notification_type).
	Normal bool `json:"normal,omitempty"`
}

// defaultConfig is what XEP-0163 §5 asks of a PEP node, and what
// Prosody, the server clients are tested against, uses: presence access,
// one persistent item, the last one sent on presence.
func defaultConfig() config {
	return config{Access: accessPresence, MaxItems: 1, Persist: true, SendLast: sendOnPresence,
		Notify: true, Payloads: true, NotifyRetract: true, NotifyDelete: true}
}

// node is the stored record of a node: its configuration, the
// affiliations the owner gave (bare JID → member, publisher or outcast)
// and the explicit subscriptions (XEP-0060 §6.1), as the JIDs subscribed.
type node struct {
	V      int               `json:"v"`
	Config config            `json:"c"`
	Affs   map[string]string `json:"a,omitempty"`
	Subs   []string          `json:"s,omitempty"`
}

// nodeVersion is the format of node records.
const nodeVersion = 1

func newNode(c config) *node { return &node{V: nodeVersion, Config: c} }

func (n *node) encode() []byte {
	b, err := json.Marshal(n)
	if err != nil {
		panic("pep: encode node: " + err.Error()) // only plain fields: cannot fail
	}
	return b
}

// decodeNode reads a stored node record, refusing values the module
// never writes.
func decodeNode(b []byte) (*node, error) {
	var n node
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("%w: node record: %w", ErrCorrupt, err)
	}
	c := n.Config
	switch {
	case n.V != nodeVersion:
		return nil, fmt.Errorf("%w: node record version %d", ErrCorrupt, n.V)
	case !slices.Contains([]string{accessOpen, accessPresence, accessRoster, accessWhitelist}, c.Access):
		return nil, fmt.Errorf("%w: access model %q", ErrCorrupt, c.Access)
	case !slices.Contains([]string{sendNever, sendOnSub, sendOnPresence}, c.SendLast):
		return nil, fmt.Errorf("%w: send_last_published_item %q", ErrCorrupt, c.SendLast)
	case c.MaxItems < 0:
		return nil, fmt.Errorf("%w: max_items %d", ErrCorrupt, c.MaxItems)
	}
	for j, a := range n.Affs {
		if a != affMember && a != affPublisher && a != affOutcast {
			return nil, fmt.Errorf("%w: affiliation %q of %q", ErrCorrupt, a, j)
		}
	}
	return &n, nil
}

// keep is how many items the node keeps, given the server's limit.
func (c *config) keep(limit int) int {
	switch {
	case !c.Persist:
		return 0
	case c.MaxItems == 0 || c.MaxItems > limit:
		return limit
	}
	return c.MaxItems
}

// field is one field of the node_config form: how to show it and how to
// set it from submitted values.
type field struct {
	v, typ, label string
	options       []string
	get           func(c *config) []string
	// set applies values; limit is the server's max items per node.
	set func(c *config, values []string, limit int) error
}

func one(s string) []string { return []string{s} }

func boolField(v, label string, p func(c *config) *bool) field {
	return field{v: v, typ: form.Boolean, label: label,
		get: func(c *config) []string { return one(form.FormatBool(*p(c))) },
		set: func(c *config, vals []string, _ int) error {
			b, err := form.ParseBool(first(vals))
			if err != nil {
				return stanza.NewError(stanza.BadRequest, v+": "+err.Error())
			}
			*p(c) = b
			return nil
		}}
}

func textField(v, label string, p func(c *config) *string) field {
	return field{v: v, typ: form.TextSingle, label: label,
		get: func(c *config) []string { return one(*p(c)) },
		set: func(c *config, vals []string, _ int) error { *p(c) = first(vals); return nil }}
}

// listField is a list-single whose value must be one of options.
func listField(v, label string, options []string, p func(c *config) *string) field {
	return field{v: v, typ: form.ListSingle, label: label, options: options,
		get: func(c *config) []string { return one(*p(c)) },
		set: func(c *config, vals []string, _ int) error {
			if !slices.Contains(options, first(vals)) {
				return stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("%s: %q is not supported here; choose one of %v", v, first(vals), options))
			}
			*p(c) = first(vals)
			return nil
		}}
}

func first(vals []string) string {
	if len(vals) == 0 {
		return ""
	}
	return vals[0]
}

// fieldSet is the node_config form's fields.
type fieldSet []field

// configFields are the node_config fields PEP serves, the set Prosody
// offers. Fields a client sends that are not among them are ignored, as
// Prosody ignores them, both in a configuration and as publish-options.
func configFields() fieldSet {
	return fieldSet{
		textField("pubsub#title", "A friendly name for the node", func(c *config) *string { return &c.Title }),
		textField("pubsub#description", "A description of the node", func(c *config) *string { return &c.Description }),
		textField("pubsub#type", "The type of node data, usually the namespace of the payload", func(c *config) *string { return &c.Type }),
		{v: "pubsub#max_items", typ: form.TextSingle, label: "Max # of items to persist (or max)",
			get: func(c *config) []string {
				if c.MaxItems == 0 {
					return one(maxItemsMaximum)
				}
				return one(strconv.Itoa(c.MaxItems))
			},
			set: func(c *config, vals []string, limit int) error {
				v := first(vals)
				if v == maxItemsMaximum {
					c.MaxItems = 0
					return nil
				}
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return stanza.NewError(stanza.BadRequest, fmt.Sprintf("pubsub#max_items: %q is neither a positive number nor max", v))
				}
				if n > limit {
					return pubsubError(stanza.NotAcceptable, "", fmt.Sprintf("pubsub#max_items: this server keeps at most %d items per node", limit))
				}
				c.MaxItems = n
				return nil
			}},
		boolField("pubsub#persist_items", "Persist items to storage", func(c *config) *bool { return &c.Persist }),
		listField("pubsub#access_model", "Who may subscribe and retrieve items",
			[]string{accessOpen, accessPresence, accessRoster, accessWhitelist}, func(c *config) *string { return &c.Access }),
		{v: "pubsub#roster_groups_allowed", typ: form.ListMulti, label: "Roster groups allowed to subscribe (roster access model)",
			get: func(c *config) []string { return slices.Clone(c.Groups) },
			set: func(c *config, vals []string, _ int) error { c.Groups = slices.Clone(vals); return nil }},
		{v: "pubsub#publish_model", typ: form.ListSingle, label: "Who may publish", options: []string{publishModel},
			get: func(*config) []string { return one(publishModel) },
			set: func(_ *config, vals []string, _ int) error {
				if first(vals) != publishModel {
					return stanza.NewError(stanza.NotAcceptable, "pubsub#publish_model: only the account publishes to its own nodes")
				}
				return nil
			}},
		listField("pubsub#send_last_published_item", "When to send the last published item",
			[]string{sendNever, sendOnSub, sendOnPresence}, func(c *config) *string { return &c.SendLast }),
		boolField("pubsub#deliver_notifications", "Whether to deliver event notifications", func(c *config) *bool { return &c.Notify }),
		boolField("pubsub#deliver_payloads", "Whether to deliver payloads with event notifications", func(c *config) *bool { return &c.Payloads }),
		{v: "pubsub#notification_type", typ: form.ListSingle, label: "The type of message notifications are sent as",
			options: []string{notifyHeadline, notifyNormal},
			get: func(c *config) []string {
				if c.Normal {
					return one(notifyNormal)
				}
				return one(notifyHeadline)
			},
			set: func(c *config, vals []string, _ int) error {
				switch first(vals) {
				case notifyHeadline:
					c.Normal = false
				case notifyNormal:
					c.Normal = true
				default:
					return stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("pubsub#notification_type: %q is neither headline nor normal", first(vals)))
				}
				return nil
			}},
		boolField("pubsub#notify_delete", "Whether to notify subscribers when the node is deleted", func(c *config) *bool { return &c.NotifyDelete }),
		boolField("pubsub#notify_retract", "Whether to notify subscribers when items are removed", func(c *config) *bool { return &c.NotifyRetract }),
	}
}

func (fs fieldSet) byVar(v string) *field {
	for i := range fs {
		if fs[i].v == v {
			return &fs[i]
		}
	}
	return nil
}

// form is the node_config form showing c (XEP-0060 §8.2.1).
func (fs fieldSet) form(c *config) *form.Form {
	f := form.New(form.TypeForm, FormNodeConfig)
	for i := range fs {
		fd := &fs[i]
		fl := form.Field{Var: fd.v, Type: fd.typ, Label: fd.label, Values: fd.get(c)}
		for _, o := range fd.options {
			fl.Options = append(fl.Options, form.Option{Value: o})
		}
		f.Add(fl)
	}
	return f
}

// apply sets c from a submitted form: a configuration (XEP-0060 §8.2.4)
// or publish-options used to create a node (§7.1.5). The result is
// checked as a whole: the roster model needs groups.
func (fs fieldSet) apply(c *config, f *form.Form, limit int) error {
	for _, fl := range f.Fields {
		fd := fs.byVar(fl.Var)
		if fd == nil {
			continue
		}
		if err := fd.set(c, fl.Values, limit); err != nil {
			return err
		}
	}
	if c.Access == accessRoster && len(c.Groups) == 0 {
		return stanza.NewError(stanza.NotAcceptable, "pubsub#access_model roster needs pubsub#roster_groups_allowed")
	}
	return nil
}

// preconditions checks publish-options against an existing node's
// configuration (XEP-0060 §7.1.5): each field must already have the value
// asked for, compared after reading it the way a configuration would be,
// so that "1" matches true and "max" matches max.
func (fs fieldSet) preconditions(c *config, f *form.Form, limit int) error {
	for _, fl := range f.Fields {
		fd := fs.byVar(fl.Var)
		if fd == nil {
			continue
		}
		want := *c
		if err := fd.set(&want, fl.Values, limit); err != nil {
			return err
		}
		if have, asked := fd.get(c), fd.get(&want); !slices.Equal(have, asked) {
			return pubsubError(stanza.Conflict, "precondition-not-met",
				fmt.Sprintf("%s is %v on this node, not %v; change the node's configuration first", fd.v, have, asked))
		}
	}
	return nil
}

// metaData is the node's meta-data form for disco#info (XEP-0060 §5.4).
func metaData(c *config) *form.Form {
	f := form.New(form.TypeResult, FormMetaData)
	add := func(v, val string) {
		if val != "" {
			f.Add(form.Field{Var: v, Values: one(val)})
		}
	}
	add("pubsub#title", c.Title)
	add("pubsub#description", c.Description)
	add("pubsub#type", c.Type)
	add("pubsub#access_model", c.Access)
	add("pubsub#publish_model", publishModel)
	return f
}
