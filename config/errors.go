package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Every *FieldError wraps exactly one of these kinds, so that callers can
// tell them apart with errors.Is. A FieldError about a missing file also
// wraps the os.Stat error (errors.Is(err, fs.ErrNotExist) works), and one
// about bad TOML also wraps go-toml's *toml.DecodeError, whose String method
// shows the offending line with a caret.
var (
	// ErrSyntax: the file is not valid TOML.
	ErrSyntax = errors.New("invalid TOML")
	// ErrUnknownKey: the file has a key or table that roost does not know,
	// usually a typo.
	ErrUnknownKey = errors.New("unknown key")
	// ErrType: a value has the wrong TOML type (a string for a number...).
	ErrType = errors.New("wrong type")
	// ErrInvalid: a value has the right type but is not acceptable.
	ErrInvalid = errors.New("invalid value")
	// ErrRange: a number or duration is outside its allowed range.
	ErrRange = errors.New("out of range")
	// ErrMissing: a value that another setting makes necessary is absent.
	ErrMissing = errors.New("missing value")
	// ErrConflict: two settings contradict each other, such as two
	// services listening on the same address.
	ErrConflict = errors.New("conflicting values")
)

// FieldError is one problem in the configuration. Error renders it as
// "file:line: field: message", dropping the parts that are unknown: File is
// empty for Validate on a Config built in code, Line is 0 when neither the
// field nor any table above it appears in the file, and Field is empty for
// TOML syntax errors (the message names the key where it matters).
type FieldError struct {
	File  string
	Line  int
	Field string // key path as written in TOML, e.g. "c2s.listen[1]"
	Err   error
}

// Error renders "file:line: field: message".
func (e *FieldError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		b.WriteString(e.File)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	case e.File != "":
		b.WriteString(e.File)
		b.WriteString(": ")
	case e.Line > 0:
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString(ErrInvalid.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

// valueError is a FieldError's message: a sentence written for the person
// editing the file, which still matches its kind (and cause) with errors.Is.
type valueError struct {
	msg  string
	errs []error
}

func (e *valueError) Error() string   { return e.msg }
func (e *valueError) Unwrap() []error { return e.errs }

// newError returns an error with the formatted message that wraps kind and
// any extra causes.
func newError(kind error, causes []error, format string, args ...any) error {
	return &valueError{msg: fmt.Sprintf(format, args...), errs: append([]error{kind}, causes...)}
}

// errorf is newError without extra causes.
func errorf(kind error, format string, args ...any) error {
	return newError(kind, nil, format, args...)
}

// joinErrors sorts errs into file order, then by field (errors without a
// line last), and joins them; nil if there are none.
func joinErrors(errs []*FieldError) error {
	if len(errs) == 0 {
		return nil
	}
	slices.SortStableFunc(errs, func(a, b *FieldError) int {
		if (a.Line == 0) != (b.Line == 0) {
			if a.Line == 0 {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(a.Line, b.Line); c != 0 {
			return c
		}
		return compareFields(a.Field, b.Field)
	})
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}

// compareFields orders key paths with their array indexes compared as
// numbers, so that domains[2] comes before domains[10].
func compareFields(a, b string) int {
	for a != "" && b != "" {
		if isDigit(a[0]) && isDigit(b[0]) {
			na, nb := leadingDigits(a), leadingDigits(b)
			// Without leading zeros, a longer number is a larger one.
			da, db := strings.TrimLeft(a[:na], "0"), strings.TrimLeft(b[:nb], "0")
			if c := cmp.Or(cmp.Compare(len(da), len(db)), strings.Compare(da, db)); c != 0 {
				return c
			}
			a, b = a[na:], b[nb:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func leadingDigits(s string) int {
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	return n
}
