package prosody

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"roost/portable"
	"roost/xmlstream"
)

// Dir is a Prosody data directory in its internal storage (the
// data_path of prosody.cfg.lua, /var/lib/prosody on Debian): one
// directory per host, one per store in it, one file per user in that
// (util.datamanager's layout, names %-encoded).
type Dir struct {
	Path   string
	Limits Limits
}

// decodeName undoes util.datamanager's encoding of host, store and user
// names: every byte but letters and digits as %xx.
func decodeName(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("%w: name %q", ErrSyntax, s)
		}
		v, err := hex.DecodeString(s[i+1 : i+3])
		if err != nil {
			return "", fmt.Errorf("%w: name %q", ErrSyntax, s)
		}
		b.WriteByte(v[0])
		i += 2
	}
	return b.String(), nil
}

// encodeName is util.datamanager's encoding of host and user names;
// store names keep their underscores (storeName).
func encodeName(s string) string { return encode(s, false) }

func storeName(s string) string { return encode(s, true) }

func encode(s string, underscore bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'z' || (underscore && c == '_') {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02x", c)
		}
	}
	return b.String()
}

// Hosts returns the hosts that have accounts: the directories with an
// accounts store.
func (d Dir) Hosts() ([]string, error) {
	ents, err := os.ReadDir(d.Path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", d.Path, err)
	}
	var hosts []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if fi, err := os.Stat(filepath.Join(d.Path, e.Name(), "accounts")); err != nil || !fi.IsDir() {
			continue
		}
		h, err := decodeName(e.Name())
		if err != nil {
			return nil, err
		}
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	return hosts, nil
}

// Users returns the accounts of host, sorted.
func (d Dir) Users(host string) ([]string, error) {
	return d.storeUsers(host, "accounts", ".dat")
}

func (d Dir) storeUsers(host, store, ext string) ([]string, error) {
	dir := filepath.Join(d.Path, encodeName(host), storeName(store))
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var users []string
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ext)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		u, err := decodeName(name)
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	slices.Sort(users)
	return users, nil
}

// Stores returns the names of host's stores (directories), decoded.
func (d Dir) Stores(host string) ([]string, error) {
	dir := filepath.Join(d.Path, encodeName(host))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var stores []string
	for _, e := range ents {
		if e.IsDir() {
			s, err := decodeName(e.Name())
			if err != nil {
				return nil, err
			}
			stores = append(stores, s)
		}
	}
	slices.Sort(stores)
	return stores, nil
}

func (d Dir) file(host, store, user, ext string) string {
	return filepath.Join(d.Path, encodeName(host), storeName(store), encodeName(user)+ext)
}

// keyval reads a user's keyval store; nil when there is none.
func (d Dir) keyval(host, store, user string) (*Table, error) {
	name := d.file(host, store, user, ".dat")
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close() // read only
	v, err := readReturn(f, d.Limits)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	t, ok := v.(*Table)
	if !ok && v != nil {
		return nil, fmt.Errorf("read %s: %w: not a table", name, ErrSyntax)
	}
	return t, nil
}

// archive reads a user's archive store, item by item.
func (d Dir) archive(host, store, user string, fn func(*Table) error) error {
	name := d.file(host, store, user, ".list")
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close() // read only
	if err := eachItem(f, d.Limits, fn); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

// when is an archived item's time: the number internal storage keeps,
// or the stamp attribute older versions kept instead.
func when(t *Table) time.Time {
	if w, ok := t.Number("when"); ok && !math.IsNaN(w) && !math.IsInf(w, 0) {
		sec, frac := math.Modf(w)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC()
	}
	if s, ok := t.Table("attr").String("stamp"); ok {
		if at, err := portable.ParseStamp(s); err == nil {
			return at
		}
	}
	return time.Time{}
}

// Stores read as a whole account (Read). The others are reported, with
// the stores only Prosody itself needs left out of the report.
var (
	readStores = []string{"accounts", "roster", "vcard", "private", "blocklist", "pep", "offline", "archive"}
	// Prosody's bookkeeping: nothing a user would miss.
	ignoredStores = []string{"archive_cleanup", "cron", "lastlog", "lastlog2", "smacks_h", "account_details", "account_roles", "tokens", "auth_tokens", "invite_token", "mam_prefs"}
)

// Read calls fn with the entries of one account, as a XEP-0227 document
// would have them (the *User first, the *UserEnd last), read from
// Prosody's files directly. Stores without an equivalent come as
// *portable.Unknown entries naming them.
func (d Dir) Read(host, user string, fn func(portable.Entry) error) error {
	u, cred, err := d.account(host, user)
	if err != nil {
		return err
	}
	if err := fn(u); err != nil {
		return err
	}
	if cred != nil {
		if err := fn(cred); err != nil {
			return err
		}
	}
	for _, step := range []func(host, user string, fn func(portable.Entry) error) error{
		d.roster, d.vcard, d.private, d.Blocklist, d.pep, d.Offline, d.archiveEntries,
	} {
		if err := step(host, user, fn); err != nil {
			return err
		}
	}
	if err := d.unknownStores(host, user, fn); err != nil {
		return err
	}
	return fn(&portable.UserEnd{})
}

// account reads the credentials: internal_hashed keeps SCRAM keys (hex,
// the hash told by their length), internal_plain the password.
func (d Dir) account(host, user string) (*portable.User, portable.Entry, error) {
	u := &portable.User{Host: host, Name: user}
	t, err := d.keyval(host, "accounts", user)
	if err != nil || t == nil {
		return u, nil, err
	}
	if pw, ok := t.String("password"); ok {
		u.Password, u.HasPassword = pw, true
		return u, nil, nil
	}
	stored, _ := t.String("stored_key")
	server, _ := t.String("server_key")
	salt, _ := t.String("salt")
	iter, _ := t.Number("iteration_count")
	sk, err1 := hex.DecodeString(stored)
	vk, err2 := hex.DecodeString(server)
	if err1 != nil || err2 != nil || len(sk) == 0 || len(sk) != len(vk) {
		return u, &portable.Unknown{Name: xmlstream.Name{Local: "accounts"}, Where: "Prosody's stores",
			Reason: "credentials that do not read", File: d.file(host, "accounts", user, ".dat")}, nil
	}
	mech := map[int]string{20: "SCRAM-SHA-1", 32: "SCRAM-SHA-256", 64: "SCRAM-SHA-512"}[len(sk)]
	if mech == "" {
		mech = fmt.Sprintf("SCRAM with %d-byte keys", len(sk))
	}
	return u, &portable.Credential{Mechanism: mech, Iterations: int(iter), Salt: []byte(salt), StoredKey: sk, ServerKey: vk}, nil
}

func (d Dir) roster(host, user string, fn func(portable.Entry) error) error {
	t, err := d.keyval(host, "roster", user)
	if err != nil || t == nil {
		return err
	}
	for _, k := range t.Keys {
		contact, ok := k.(string)
		it, _ := t.Map[k].(*Table)
		if !ok || it == nil {
			continue
		}
		ri := &portable.RosterItem{JID: contact}
		ri.Subscription, _ = it.String("subscription")
		ri.Ask, _ = it.String("ask")
		ri.Name, _ = it.String("name")
		if g := it.Table("groups"); g != nil {
			for _, gk := range g.Keys {
				if name, ok := gk.(string); ok {
					ri.Groups = append(ri.Groups, name)
				}
			}
			slices.Sort(ri.Groups)
		}
		if err := fn(ri); err != nil {
			return err
		}
	}
	// [false] holds the roster's own data: the pending requests, each
	// the stored presence (Prosody 0.12) or true (older versions).
	meta := t.Table(false)
	pending := meta.Table("pending")
	if pending == nil {
		return nil
	}
	for _, k := range pending.Keys {
		from, ok := k.(string)
		if !ok {
			continue
		}
		p := xmlstream.New(xmlstream.NSClient, "presence").SetAttr("from", from).SetAttr("type", "subscribe")
		if st, ok := pending.Map[k].(*Table); ok {
			if el, err := element(st, xmlstream.NSClient, 0); err == nil {
				p = el
			}
		}
		if err := fn(&portable.Request{From: from, Presence: p}); err != nil {
			return err
		}
	}
	return nil
}

func (d Dir) vcard(host, user string, fn func(portable.Entry) error) error {
	t, err := d.keyval(host, "vcard", user)
	if err != nil || t == nil {
		return err
	}
	el, err := element(t, portable.NSVCard, 0)
	if err != nil {
		return fmt.Errorf("read the vCard of %s@%s: %w", user, host, err)
	}
	return fn(&portable.VCard{Element: el})
}

func (d Dir) private(host, user string, fn func(portable.Entry) error) error {
	t, err := d.keyval(host, "private", user)
	if err != nil || t == nil {
		return err
	}
	for _, k := range t.Keys {
		st, ok := t.Map[k].(*Table)
		if !ok {
			continue
		}
		el, err := element(st, "", 0)
		if err != nil {
			return fmt.Errorf("read private XML of %s@%s: %w", user, host, err)
		}
		if err := fn(&portable.Private{Element: el}); err != nil {
			return err
		}
	}
	return nil
}

// Blocklist reads the user's block list (mod_blocklist: the blocked JIDs
// as keys). prosody-migrator's xep0227 driver has no place for it, so
// roost reads it here in either case.
func (d Dir) Blocklist(host, user string, fn func(portable.Entry) error) error {
	t, err := d.keyval(host, "blocklist", user)
	if err != nil || t == nil {
		return err
	}
	for _, k := range t.Keys {
		if j, ok := k.(string); ok {
			if err := fn(&portable.Blocked{JID: j}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Offline reads the messages waiting for the user (mod_offline, an
// archive store), each with the delay the server adds on delivery, from
// the host, stamped with the time it was stored (XEP-0227 §4.4).
// prosody-migrator's xep0227 driver has no place for them either.
func (d Dir) Offline(host, user string, fn func(portable.Entry) error) error {
	return d.archive(host, "offline", user, func(t *Table) error {
		msg, err := element(t, xmlstream.NSClient, 0, "stamp", "stamp_legacy")
		if err != nil {
			return fmt.Errorf("read an offline message of %s@%s: %w", user, host, err)
		}
		if at := when(t); !at.IsZero() {
			msg.Append(xmlstream.New(portable.NSDelay, "delay").SetAttr("from", host).
				SetAttr("stamp", portable.FormatStamp(at)).AppendText("Offline Storage"))
		}
		return fn(&portable.Offline{Message: msg})
	})
}

func (d Dir) archiveEntries(host, user string, fn func(portable.Entry) error) error {
	return d.archive(host, "archive", user, func(t *Table) error {
		msg, err := element(t, xmlstream.NSClient, 0, "stamp", "stamp_legacy")
		if err != nil {
			return fmt.Errorf("read an archived message of %s@%s: %w", user, host, err)
		}
		id, _ := t.String("key")
		return fn(&portable.Archived{ID: id, Stamp: when(t), Message: msg})
	})
}

// Prosody's node configuration keys and the node_config fields they are
// (mod_pubsub's pubsub.lib.lua).
var nodeConfigVars = [][2]string{
	{"title", "pubsub#title"}, {"description", "pubsub#description"}, {"payload_type", "pubsub#type"},
	{"max_items", "pubsub#max_items"}, {"persist_items", "pubsub#persist_items"}, {"access_model", "pubsub#access_model"},
	{"roster_groups_allowed", "pubsub#roster_groups_allowed"}, {"publish_model", "pubsub#publish_model"},
	{"send_last_published_item", "pubsub#send_last_published_item"}, {"notify_items", "pubsub#deliver_notifications"},
	{"include_payload", "pubsub#deliver_payloads"}, {"notification_type", "pubsub#notification_type"},
	{"notify_delete", "pubsub#notify_delete"}, {"notify_retract", "pubsub#notify_retract"},
}

// pep reads the user's PEP nodes (mod_pep's "pep" store: configuration,
// affiliations, subscribers) and their items (a "pep_<node>" archive
// store each).
func (d Dir) pep(host, user string, fn func(portable.Entry) error) error {
	t, err := d.keyval(host, "pep", user)
	if err != nil || t == nil {
		return err
	}
	for _, k := range t.Keys {
		name, ok := k.(string)
		nt, _ := t.Map[k].(*Table)
		if !ok {
			continue
		}
		n := &portable.PEPNode{Node: name, Config: nodeConfig(nt.Table("config"))}
		if affs := nt.Table("affiliations"); affs != nil {
			for _, jk := range affs.Keys {
				j, jok := jk.(string)
				a, aok := affs.String(jk)
				if jok && aok {
					n.Affiliations = append(n.Affiliations, portable.Affiliation{JID: j, Affiliation: a})
				}
			}
		}
		if subs := nt.Table("subscribers"); subs != nil {
			for _, jk := range subs.Keys {
				if j, ok := jk.(string); ok {
					n.Subscriptions = append(n.Subscriptions, j)
				}
			}
		}
		if err := fn(n); err != nil {
			return err
		}
		err := d.archive(host, "pep_"+name, user, func(it *Table) error {
			id, _ := it.String("key")
			payload, err := element(it, "", 0, "stamp", "stamp_legacy")
			if err != nil {
				return fmt.Errorf("read PEP item %s of %s@%s: %w", id, user, host, err)
			}
			return fn(&portable.PEPItem{Node: name, ID: id, Published: when(it), Payload: payload})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// nodeConfig writes a node's configuration as the node_config form
// Prosody's xep0227 driver writes: the values set, nil for none.
func nodeConfig(c *Table) *xmlstream.Element {
	if c == nil || len(c.Keys) == 0 {
		return nil
	}
	const nsData = "jabber:x:data"
	x := xmlstream.New(nsData, "x").SetAttr("type", "submit")
	field := func(v string, values ...string) {
		f := xmlstream.New(nsData, "field").SetAttr("var", v)
		for _, val := range values {
			f.Append(xmlstream.New(nsData, "value").AppendText(val))
		}
		x.Append(f)
	}
	field("FORM_TYPE", "http://jabber.org/protocol/pubsub#node_config")
	for _, kv := range nodeConfigVars {
		switch v := c.Get(kv[0]).(type) {
		case string:
			field(kv[1], v)
		case bool:
			field(kv[1], map[bool]string{true: "1", false: "0"}[v])
		case int64:
			field(kv[1], strconv.FormatInt(v, 10))
		case float64:
			field(kv[1], strconv.FormatFloat(v, 'f', -1, 64))
		case *Table:
			var vals []string
			for _, e := range v.Array {
				if s, ok := e.(string); ok {
					vals = append(vals, s)
				}
			}
			field(kv[1], vals...)
		}
	}
	return x
}

// unknownStores reports the stores the user has data in that roost does
// not read.
func (d Dir) unknownStores(host, user string, fn func(portable.Entry) error) error {
	stores, err := d.Stores(host)
	if err != nil {
		return err
	}
	for _, s := range stores {
		if slices.Contains(readStores, s) || slices.Contains(ignoredStores, s) || strings.HasPrefix(s, "pep_") {
			continue
		}
		for _, ext := range []string{".dat", ".list"} {
			if _, err := os.Stat(d.file(host, s, user, ext)); err == nil {
				err := fn(&portable.Unknown{Name: xmlstream.Name{Local: s}, Where: "Prosody's stores",
					Reason: "a store roost has nothing for", File: d.file(host, s, user, ext)})
				if err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Source reads every account of the hosts directly (all hosts with
// accounts when hosts is empty), as Read does, then the group chat rooms
// (Rooms), for transfer.Import.
func (d Dir) Source(hosts []string) func(fn func(portable.Entry) error) error {
	return func(fn func(portable.Entry) error) error {
		if len(hosts) == 0 {
			var err error
			if hosts, err = d.Hosts(); err != nil {
				return err
			}
		}
		for _, h := range hosts {
			users, err := d.Users(h)
			if err != nil {
				return err
			}
			for _, u := range users {
				if err := d.Read(h, u, fn); err != nil {
					return err
				}
			}
		}
		return d.Rooms(fn)
	}
}
