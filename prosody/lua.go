package prosody

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Prosody's internal storage writes Lua (util.serialization through
// util.datamanager): a keyval store is "return <table>;", an archive a
// sequence of "item(<table>);". This is a reader for exactly that subset
// of Lua: table constructors with [key] = value, name = value and
// positional fields, strings with Lua's escapes, numbers (including
// util.serialization's (1/0), (-1/0) and (0/0)), booleans and nil. It
// executes nothing.

// Table is a Lua table: its positional values (Array, from index 1) and
// its other fields, keyed by string, number or boolean.
type Table struct {
	Array []any
	Keys  []any // the keys of Map, in file order
	Map   map[any]any
}

// Get returns the field k (a string, int64, float64 or bool).
func (t *Table) Get(k any) any {
	if t == nil {
		return nil
	}
	if n, ok := k.(int64); ok && n >= 1 && n <= int64(len(t.Array)) {
		return t.Array[n-1]
	}
	return t.Map[k]
}

// String returns the field k if it is a string.
func (t *Table) String(k any) (string, bool) {
	s, ok := t.Get(k).(string)
	return s, ok
}

// Table returns the field k if it is a table.
func (t *Table) Table(k any) *Table {
	v, _ := t.Get(k).(*Table)
	return v
}

// Number returns the field k as a float64 if it is a number.
func (t *Table) Number(k any) (float64, bool) {
	switch v := t.Get(k).(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

// Errors.
var (
	// ErrSyntax means the data is not the Lua Prosody writes.
	ErrSyntax = errors.New("prosody: not Prosody's stored data")
	// ErrTooLarge means a value is larger or deeper than the limits.
	ErrTooLarge = errors.New("prosody: stored value too large")
)

// Limits bound one value the reader holds.
type Limits struct {
	// MaxBytes bounds one keyval file or one archive item. Zero means
	// 16 MiB.
	MaxBytes int64
	// MaxDepth bounds table nesting. Zero means 128, util.serialization's
	// own limit.
	MaxDepth int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 16 << 20
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 128
	}
	return l
}

// luaReader parses from a buffered reader, counting bytes against a
// per-value budget.
type luaReader struct {
	r    *bufio.Reader
	lim  Limits
	used int64
	line int
}

func newLuaReader(r io.Reader, lim Limits) *luaReader {
	return &luaReader{r: bufio.NewReader(r), lim: lim.withDefaults(), line: 1}
}

func (p *luaReader) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrSyntax, p.line, fmt.Sprintf(format, args...))
}

func (p *luaReader) next() (byte, error) {
	c, err := p.r.ReadByte()
	if err != nil {
		if err == io.EOF {
			return 0, io.ErrUnexpectedEOF
		}
		return 0, err
	}
	p.used++
	if p.used > p.lim.MaxBytes {
		return 0, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, p.lim.MaxBytes)
	}
	if c == '\n' {
		p.line++
	}
	return c, nil
}

func (p *luaReader) unread() {
	_ = p.r.UnreadByte() // only after a successful ReadByte
	p.used--
	if b, err := p.r.Peek(1); err == nil && b[0] == '\n' {
		p.line--
	}
}

// skipSpace skips white space and comments; it returns io.EOF at the end
// of the input. It looks ahead with Peek before it reads, because a Peek
// after a read makes bufio's UnreadByte fail.
func (p *luaReader) skipSpace() error {
	for {
		b, err := p.r.Peek(1)
		if err != nil {
			return err
		}
		switch b[0] {
		case '\n':
			p.line++
		case ' ', '\t', '\r', '\f', '\v':
		case '-':
			if b, _ := p.r.Peek(2); len(b) < 2 || b[1] != '-' {
				return nil
			}
			if _, err := p.r.ReadString('\n'); err != nil {
				return err
			}
			p.line++
			continue
		default:
			return nil
		}
		_, _ = p.r.ReadByte() // peeked
	}
}

func (p *luaReader) expect(s string) error {
	if err := p.skipSpace(); err != nil {
		return p.eof(err)
	}
	for i := range len(s) {
		c, err := p.next()
		if err != nil {
			return err
		}
		if c != s[i] {
			return p.errorf("expected %q", s)
		}
	}
	return nil
}

func (p *luaReader) eof(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readReturn reads a keyval file: "return <value>;".
func readReturn(r io.Reader, lim Limits) (any, error) {
	p := newLuaReader(r, lim)
	if err := p.expect("return"); err != nil {
		return nil, err
	}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if err := p.skipSpace(); err == nil {
		if c, _ := p.next(); c != ';' {
			return nil, p.errorf("expected ;")
		}
	}
	if err := p.skipSpace(); err != io.EOF {
		return nil, p.errorf("more after the value")
	}
	return v, nil
}

// eachItem reads an archive file, calling fn with each "item(<table>);"
// in turn, each read within the limits on its own.
func eachItem(r io.Reader, lim Limits, fn func(*Table) error) error {
	p := newLuaReader(r, lim)
	for {
		if err := p.skipSpace(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		p.used = 0
		if err := p.expect("item("); err != nil {
			return err
		}
		v, err := p.value(0)
		if err != nil {
			return err
		}
		if err := p.expect(")"); err != nil {
			return err
		}
		if err := p.skipSpace(); err == nil {
			if c, _ := p.next(); c != ';' {
				p.unread()
			}
		}
		t, ok := v.(*Table)
		if !ok {
			return p.errorf("an item that is not a table")
		}
		if err := fn(t); err != nil {
			return err
		}
	}
}

func (p *luaReader) value(depth int) (any, error) {
	if err := p.skipSpace(); err != nil {
		return nil, p.eof(err)
	}
	c, err := p.next()
	if err != nil {
		return nil, err
	}
	switch {
	case c == '{':
		if depth >= p.lim.MaxDepth {
			return nil, fmt.Errorf("%w: tables nested more than %d deep", ErrTooLarge, p.lim.MaxDepth)
		}
		return p.table(depth + 1)
	case c == '"' || c == '\'':
		return p.str(c)
	case c == '(':
		// util.serialization's infinities and NaN: (1/0), (-1/0), (0/0).
		s, err := p.until(')')
		if err != nil {
			return nil, err
		}
		switch s {
		case "1/0":
			return math.Inf(1), nil
		case "-1/0":
			return math.Inf(-1), nil
		case "0/0":
			return math.NaN(), nil
		}
		return nil, p.errorf("expression (%.20s)", s)
	case c == '-' || c == '.' || (c >= '0' && c <= '9'):
		p.unread()
		return p.number()
	case isNameStart(c):
		p.unread()
		name, err := p.name()
		if err != nil {
			return nil, err
		}
		switch name {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "nil":
			return nil, nil
		}
		return nil, p.errorf("unexpected %q", name)
	}
	return nil, p.errorf("unexpected %q", c)
}

func isNameStart(c byte) bool { return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isNameByte(c byte) bool  { return isNameStart(c) || (c >= '0' && c <= '9') }

func (p *luaReader) name() (string, error) {
	var b strings.Builder
	for {
		c, err := p.next()
		if err != nil {
			return "", err
		}
		if !isNameByte(c) {
			p.unread()
			return b.String(), nil
		}
		b.WriteByte(c)
	}
}

func (p *luaReader) until(end byte) (string, error) {
	var b strings.Builder
	for {
		c, err := p.next()
		if err != nil {
			return "", err
		}
		if c == end {
			return b.String(), nil
		}
		b.WriteByte(c)
	}
}

func (p *luaReader) number() (any, error) {
	var b strings.Builder
	for {
		c, err := p.next()
		if err != nil {
			return nil, err
		}
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' || c == 'x' || c == 'X' ||
			(c|0x20 >= 'a' && c|0x20 <= 'f') || c == 'p' || c == 'P') {
			p.unread()
			break
		}
		b.WriteByte(c)
	}
	s := b.String()
	base := 10 // Lua has no octal: "010" is ten
	if strings.HasPrefix(strings.TrimPrefix(s, "-"), "0x") || strings.HasPrefix(strings.TrimPrefix(s, "-"), "0X") {
		base = 0
	}
	if n, err := strconv.ParseInt(s, base, 64); err == nil {
		return n, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f, nil
	}
	return nil, p.errorf("number %.30q", s)
}

// str reads a quoted string with Lua's escapes (Lua 5.4 manual §3.1).
func (p *luaReader) str(quote byte) (string, error) {
	var b strings.Builder
	for {
		c, err := p.next()
		if err != nil {
			return "", err
		}
		switch c {
		case quote:
			return b.String(), nil
		case '\n':
			return "", p.errorf("unfinished string")
		case '\\':
			if err := p.escape(&b); err != nil {
				return "", err
			}
		default:
			b.WriteByte(c)
		}
	}
}

func (p *luaReader) escape(b *strings.Builder) error {
	c, err := p.next()
	if err != nil {
		return err
	}
	simple := map[byte]byte{'a': '\a', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v', '\\': '\\', '"': '"', '\'': '\'', '\n': '\n'}
	if v, ok := simple[c]; ok {
		b.WriteByte(v)
		return nil
	}
	switch {
	case c >= '0' && c <= '9':
		n := int(c - '0')
		for range 2 {
			d, err := p.next()
			if err != nil {
				return err
			}
			if d < '0' || d > '9' {
				p.unread()
				break
			}
			n = n*10 + int(d-'0')
		}
		if n > 255 {
			return p.errorf("escape \\%d", n)
		}
		b.WriteByte(byte(n))
	case c == 'x':
		var h [2]byte
		for i := range h {
			if h[i], err = p.next(); err != nil {
				return err
			}
		}
		n, err := strconv.ParseUint(string(h[:]), 16, 8)
		if err != nil {
			return p.errorf("escape \\x%s", h[:])
		}
		b.WriteByte(byte(n))
	case c == 'z':
		if err := p.skipSpace(); err != nil {
			return p.eof(err)
		}
	case c == 'u':
		if err := p.expect("{"); err != nil {
			return err
		}
		s, err := p.until('}')
		if err != nil {
			return err
		}
		n, err := strconv.ParseUint(s, 16, 31)
		if err != nil {
			return p.errorf("escape \\u{%.10s}", s)
		}
		b.WriteRune(rune(n))
	default:
		return p.errorf("escape \\%c", c)
	}
	return nil
}

// table reads a table constructor after its "{".
func (p *luaReader) table(depth int) (*Table, error) {
	t := &Table{}
	for {
		if err := p.skipSpace(); err != nil {
			return nil, p.eof(err)
		}
		c, err := p.next()
		if err != nil {
			return nil, err
		}
		if c == '}' {
			return t, nil
		}
		var key, v any
		hasKey, hasValue := false, false
		switch {
		case c == '[':
			if key, err = p.value(depth); err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			if err := p.expect("="); err != nil {
				return nil, err
			}
			hasKey = true
		case isNameStart(c):
			p.unread()
			name, err := p.name()
			if err != nil {
				return nil, err
			}
			if err := p.skipSpace(); err != nil {
				return nil, p.eof(err)
			}
			if d, _ := p.r.Peek(1); len(d) == 1 && d[0] == '=' {
				if _, err := p.next(); err != nil {
					return nil, err
				}
				key, hasKey = name, true
				break
			}
			// A positional true, false or nil.
			switch name {
			case "true", "false":
				v = name == "true"
			case "nil":
			default:
				return nil, p.errorf("unexpected %q", name)
			}
			hasValue = true
		default:
			p.unread()
		}
		if !hasValue {
			if v, err = p.value(depth); err != nil {
				return nil, err
			}
		}
		if !hasKey {
			t.Array = append(t.Array, v)
		} else if err := t.set(key, v); err != nil {
			return nil, p.errorf("%v", err)
		}
		if err := p.skipSpace(); err != nil {
			return nil, p.eof(err)
		}
		c, err = p.next()
		if err != nil {
			return nil, err
		}
		switch c {
		case ',', ';':
		case '}':
			return t, nil
		default:
			return nil, p.errorf("expected , ; or }")
		}
	}
}

func (t *Table) set(k, v any) error {
	switch key := k.(type) {
	case string, bool, int64:
	case float64:
		if math.IsNaN(key) {
			return errors.New("a NaN key")
		}
		if key == math.Trunc(key) && math.Abs(key) < 1<<53 {
			k = int64(key)
		}
	default:
		return fmt.Errorf("a key of type %T", k)
	}
	if n, ok := k.(int64); ok && n == int64(len(t.Array))+1 {
		t.Array = append(t.Array, v)
		return nil
	}
	if t.Map == nil {
		t.Map = make(map[any]any)
	}
	if _, dup := t.Map[k]; !dup {
		t.Keys = append(t.Keys, k)
	}
	t.Map[k] = v
	return nil
}
