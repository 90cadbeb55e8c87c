package prosody

import (
	"fmt"
	"maps"
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

// Group chat rooms: Prosody 0.12's mod_muc keeps a service's persistent
// rooms in its host directory, a list in persistent.dat and one file per
// room in the config store, room_mt:freeze's table: the room's settings
// in _data, its affiliations as bare JID = name fields (or, in the old
// format, an _affiliations table) and the reserved nicknames in
// _affiliation_data (no reasons: set_affiliation only broadcasts them).
// prosody-migrator's xep0227 driver has no room handler, so they are read
// directly on either road.

// roomFields turn _data's settings into muc#roomconfig fields (XEP-0045
// §15.5.3), as mod_muc's own configuration form names them.
var roomFields = []struct{ key, field string }{
	{"name", "muc#roomconfig_roomname"},
	{"description", "muc#roomconfig_roomdesc"},
	{"persistent", "muc#roomconfig_persistentroom"},
	{"members_only", "muc#roomconfig_membersonly"},
	{"moderated", "muc#roomconfig_moderatedroom"},
	{"whois", "muc#roomconfig_whois"},
	{"allow_member_invites", "muc#roomconfig_allowinvites"},
	{"changesubject", "muc#roomconfig_changesubject"},
	{"history_length", "muc#maxhistoryfetch"},
	{"archiving", "muc#roomconfig_enablelogging"},
}

// Rooms calls fn with each persistent room of every group chat service in
// the directory (a host directory with both persistent.dat and a config
// store), in the order of their JIDs.
func (d Dir) Rooms(fn func(portable.Entry) error) error {
	ents, err := os.ReadDir(d.Path)
	if err != nil {
		return fmt.Errorf("read %s: %w", d.Path, err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(d.Path, e.Name(), "persistent.dat")); err != nil {
			continue
		}
		host, err := decodeName(e.Name())
		if err != nil {
			return err
		}
		rooms, err := d.storeUsers(host, "config", ".dat")
		if err != nil {
			return err
		}
		for _, name := range rooms {
			t, err := d.keyval(host, "config", name)
			if err != nil {
				return err
			}
			if err := fn(room(host, name, t)); err != nil {
				return err
			}
		}
	}
	return nil
}

// room turns a frozen room into an entry.
func room(host, name string, t *Table) *portable.Room {
	r := &portable.Room{Service: host, Name: name}
	data := t.Table("_data")
	f := xmlstream.New(portable.NSData, "x").SetAttr("type", "submit")
	field := func(v, value string) {
		f.Append(xmlstream.New(portable.NSData, "field").SetAttr("var", v).
			Append(xmlstream.New(portable.NSData, "value").AppendText(value)))
	}
	field("FORM_TYPE", "http://jabber.org/protocol/muc#roomconfig")
	if _, ok := data.Number("history_length"); !ok {
		field("muc#maxhistoryfetch", "20") // mod_muc's default
	}
	for _, rf := range roomFields {
		switch v := data.Get(rf.key).(type) {
		case string:
			field(rf.field, v)
		case bool:
			field(rf.field, strconv.FormatBool(v))
		case int64:
			field(rf.field, strconv.FormatInt(v, 10))
		}
	}
	// mod_muc's presence_broadcast keeps the roles whose presence is
	// broadcast as a set, {moderator = true, ...}, with none, which is no
	// choice of the form's field; no set is the default, every role.
	if pb := data.Table("presence_broadcast"); pb != nil {
		fl := xmlstream.New(portable.NSData, "field").SetAttr("var", "muc#roomconfig_presencebroadcast")
		for _, role := range []string{"moderator", "participant", "visitor"} {
			if on, _ := pb.Get(role).(bool); on {
				fl.Append(xmlstream.New(portable.NSData, "value").AppendText(role))
			}
		}
		f.Append(fl)
	}
	hidden, _ := data.Get("hidden").(bool)
	field("muc#roomconfig_publicroom", strconv.FormatBool(!hidden))
	if pw, ok := data.String("password"); ok && pw != "" {
		field("muc#roomconfig_passwordprotectedroom", "true")
		field("muc#roomconfig_roomsecret", pw)
	}
	r.Config = f
	r.Subject, _ = data.String("subject")
	r.SubjectBy, _ = data.String("subject_from")
	if at, ok := data.Number("subject_time"); ok && at > 0 && at < math.MaxInt32*4 {
		sec, frac := math.Modf(at)
		r.SubjectAt = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	}
	affs := map[string]string{}
	if old := t.Table("_affiliations"); old != nil {
		for _, k := range old.Keys {
			if j, ok := k.(string); ok {
				affs[j], _ = old.String(j)
			}
		}
	}
	for _, k := range t.Keys {
		j, ok := k.(string)
		if !ok || strings.HasPrefix(j, "_") || j == "jid" {
			continue
		}
		if a, ok := t.String(j); ok {
			affs[j] = a
		}
	}
	extra := t.Table("_affiliation_data")
	for _, j := range slices.Sorted(maps.Keys(affs)) {
		a := portable.RoomAffiliation{JID: j, Affiliation: affs[j]}
		a.Nick, _ = extra.Table(j).String("reserved_nickname")
		r.Affiliations = append(r.Affiliations, a)
	}
	return r
}
