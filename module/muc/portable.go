package muc

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"roost/form"
	"roost/jid"
	"roost/xmlstream"
)

// Moving rooms between servers (roost export and import): a room record
// in the terms of an export, and back. The record format stays this
// package's own.

// Exported is a stored room as an export carries it.
type Exported struct {
	// Config is the configuration as a submitted muc#roomconfig form
	// (XEP-0045 §10.2) with every field.
	Config             *xmlstream.Element
	Subject, SubjectBy string
	SubjectAt, Created time.Time
	Salt               []byte
	// Affiliations in the order of their JIDs.
	Affiliations []ExportedAffiliation
}

// ExportedAffiliation is one JID's affiliation, reserved nickname and
// reason.
type ExportedAffiliation struct{ JID, Affiliation, Nick, Reason string }

// exportLimits take any stored configuration: the service applies its
// own limits when the room is used.
var exportLimits = limits{maxUsers: math.MaxInt32, maxHistory: math.MaxInt32, maxName: 1 << 16}

// ExportRoom reads a stored room record.
func ExportRoom(rec []byte) (Exported, error) {
	r, _, err := decodeRecord(rec)
	if err != nil {
		return Exported{}, err
	}
	f := form.New(form.TypeSubmit, FormConfig)
	for _, fl := range r.Config.Form("", exportLimits).Fields {
		if fl.Var == form.FormTypeVar || fl.Var == "" {
			continue // New wrote FORM_TYPE
		}
		v := fl.Values
		if fl.Var == fMaxUsers && r.Config.MaxUsers == 0 {
			v = []string{"none"} // the service's limit, whatever it is
		}
		f.Add(form.Field{Var: fl.Var, Values: v})
	}
	e := Exported{Config: f.Element(), Subject: r.Subject, SubjectBy: r.SubjectBy, SubjectAt: r.SubjectAt,
		Created: r.Created, Salt: slices.Clone(r.Salt)}
	for _, a := range r.Affiliations {
		e.Affiliations = append(e.Affiliations, ExportedAffiliation(a))
	}
	return e, nil
}

// ImportRoom makes a room record from an exported room. The room is
// persistent whatever the form says (only persistent rooms are stored).
// A configuration field or an affiliation roost cannot take is left out
// and described in skipped; config nil keeps the defaults given. An
// empty salt is made when the room is loaded.
func ImportRoom(e Exported, defaults Config) (rec []byte, skipped []string, err error) {
	c := defaults
	if c.AllowPM == "" {
		c.AllowPM = PMAnyone
	}
	if e.Config != nil {
		f, err := form.Parse(e.Config)
		if err != nil {
			return nil, nil, fmt.Errorf("read room configuration: %w", err)
		}
		if ft := f.FormType(); ft != "" && ft != FormConfig {
			return nil, nil, fmt.Errorf("read room configuration: a form of type %q", ft)
		}
		// Field by field, so that one value roost cannot take costs only
		// that field; the password and its switch go together.
		var pw []form.Field
		for _, fl := range f.Fields {
			switch fl.Var {
			case form.FormTypeVar, "":
				continue
			case fRoomOwners, fRoomAdmins:
				continue // e.Affiliations carries them
			case fPasswordOn, fPassword:
				pw = append(pw, fl)
				continue
			}
			c, skipped = applyField(c, skipped, fl)
		}
		if len(pw) > 0 {
			c, skipped = applyField(c, skipped, pw...)
		}
	}
	c.Persistent = true
	r := record{Version: recordVersion, Config: c, Subject: e.Subject, SubjectBy: e.SubjectBy, SubjectAt: e.SubjectAt,
		Salt: slices.Clone(e.Salt), Created: e.Created}
	seen := map[string]bool{}
	for _, a := range e.Affiliations {
		j, perr := jid.Parse(a.JID)
		aff, ok := ParseAffiliation(a.Affiliation)
		switch {
		case perr != nil || j.Resource() != "":
			skipped = append(skipped, fmt.Sprintf("affiliation of %.80q: not a bare JID", a.JID))
		case !ok || (aff == NoAffiliation && a.Nick == ""):
			skipped = append(skipped, fmt.Sprintf("affiliation %.40q of %s", a.Affiliation, j))
		case seen[j.String()]:
			skipped = append(skipped, fmt.Sprintf("second affiliation of %s", j))
		default:
			seen[j.String()] = true
			r.Affiliations = append(r.Affiliations, affRecord{JID: j.String(), Affiliation: aff.String(), Nick: a.Nick, Reason: a.Reason})
		}
	}
	slices.SortFunc(r.Affiliations, func(a, b affRecord) int { return strings.Compare(a.JID, b.JID) })
	rec, err = encodeRecord(r)
	return rec, skipped, err
}

func applyField(c Config, skipped []string, fl ...form.Field) (Config, []string) {
	f := form.New(form.TypeSubmit, FormConfig)
	f.Add(fl...)
	next, err := c.Apply(f, exportLimits)
	if err != nil {
		var vals []string
		for _, x := range fl {
			if x.Var != fPassword {
				vals = append(vals, x.Var+"="+strconv.Quote(strings.Join(x.Values, " ")))
			} else {
				vals = append(vals, x.Var)
			}
		}
		return c, append(skipped, strings.Join(vals, ", "))
	}
	return next, skipped
}
