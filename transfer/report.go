package transfer

import (
	"fmt"
	"strings"
)

// Status is what became of an account.
type Status string

// Statuses.
const (
	// Imported, or exported: the account moved (possibly without some of
	// its data: see the notes).
	Moved Status = "moved"
	// Exists: an account of that name is already in the store, and the
	// import does not overwrite.
	Exists Status = "exists"
	// Skipped: the account's domain is not served here, its name is not a
	// valid address, or the document has it twice.
	Skipped Status = "skipped"
	// Failed: the store refused the account; nothing of it was written.
	Failed Status = "failed"
)

// Counts are the pieces of an account that moved.
type Counts struct {
	Credentials, Contacts, Requests, VCards, Private, Blocked int
	PEPNodes, PEPItems, Offline, Archived, Other              int
}

// AccountReport says what became of one account.
type AccountReport struct {
	// JID is the account's bare JID (as written, for an account whose
	// name is not a valid address).
	JID    string
	Status Status
	Moved  Counts
	// LoginDisabled: the account has no credential roost can log in
	// with (import only).
	LoginDisabled bool
	// Notes say what did not move, and why; at most maxNotes, then a
	// count of the rest.
	Notes []string
	more  int
}

// maxNotes bounds the notes kept per account: a document with a million
// unknown elements makes a report of twenty lines and a count.
const maxNotes = 20

func (r *AccountReport) note(format string, args ...any) {
	if len(r.Notes) >= maxNotes {
		r.more++
		return
	}
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// finish adds the count of notes left out.
func (r *AccountReport) finish() {
	if r.more > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("and %d more like these", r.more))
		r.more = 0
	}
}

// String is one line for the account, then one per note.
func (r AccountReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", r.JID, r.Status)
	if r.Status == Moved {
		if s := r.Moved.String(); s != "" {
			b.WriteString(": " + s)
		}
	}
	if r.LoginDisabled {
		b.WriteString(" (login disabled)")
	}
	for _, n := range r.Notes {
		b.WriteString("\n  - " + n)
	}
	return b.String()
}

func (c Counts) String() string {
	var parts []string
	add := func(n int, one, many string) {
		switch {
		case n == 1:
			parts = append(parts, "1 "+one)
		case n > 1:
			parts = append(parts, fmt.Sprintf("%d %s", n, many))
		}
	}
	add(c.Credentials, "credential", "credentials")
	add(c.Contacts, "contact", "contacts")
	add(c.Requests, "subscription request", "subscription requests")
	add(c.VCards, "vCard", "vCards")
	add(c.Private, "private XML item", "private XML items")
	add(c.Blocked, "blocked address", "blocked addresses")
	add(c.PEPNodes, "PEP node", "PEP nodes")
	add(c.PEPItems, "PEP item", "PEP items")
	add(c.Offline, "offline message", "offline messages")
	add(c.Archived, "archived message", "archived messages")
	add(c.Other, "other record", "other records")
	return strings.Join(parts, ", ")
}

// Summary counts the accounts of a run by status, and holds the notes
// about the document outside any account.
type Summary struct {
	Accounts map[Status]int
	// Rooms counts the group chat rooms moved (in a dry run, that would
	// move).
	Rooms int
	Notes []string
}

func (s *Summary) add(r *AccountReport) {
	if s.Accounts == nil {
		s.Accounts = make(map[Status]int)
	}
	s.Accounts[r.Status]++
}

// String is one line: "3 moved, 1 exists".
func (s Summary) String() string {
	var parts []string
	for _, st := range []Status{Moved, Exists, Skipped, Failed} {
		if n := s.Accounts[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "no accounts")
	}
	switch {
	case s.Rooms == 1:
		parts = append(parts, "1 group chat room")
	case s.Rooms > 1:
		parts = append(parts, fmt.Sprintf("%d group chat rooms", s.Rooms))
	}
	return strings.Join(parts, ", ")
}
