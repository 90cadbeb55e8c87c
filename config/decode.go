package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// decodeFile overlays data on Default(). go-toml does the TOML work (syntax,
// duplicate keys, table rules) into a generic map; the schema is then applied
// by hand so that every unknown key and type error is reported, each with its
// line, instead of only the first one go-toml's struct decoder meets.
//
// src.pos is nil when data is not valid TOML. The returned Config has its
// paths as written and an empty Admin.Socket if the file did not set one.
func decodeFile(name string, data []byte) (Config, source, []*FieldError) {
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		return Config{}, source{file: name}, []*FieldError{syntaxError(name, err)}
	}
	d := decoder{src: source{file: name, pos: index(data), failed: map[string]bool{}}}
	c := Default()
	c.Admin.Socket = ""
	d.table("", doc, reflect.ValueOf(&c).Elem())
	return c, d.src, d.errs
}

// syntaxError converts go-toml's error into a FieldError.
func syntaxError(name string, err error) *FieldError {
	fe := &FieldError{File: name, Err: newError(ErrSyntax, []error{err}, "%v", err)}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		// No Field: de.Key() is relative to the enclosing table, and the
		// message names the key where it matters.
		fe.Line, _ = de.Position()
		// go-toml prefixes every message with "toml: "; the file name
		// already says what is being parsed.
		fe.Err = newError(ErrSyntax, []error{err}, "%s", strings.TrimPrefix(de.Error(), "toml: "))
	}
	return fe
}

// source is where a Config came from, for error positions. The zero value
// stands for a Config built in code.
type source struct {
	file string
	pos  positions
	// failed holds the paths that could not be decoded. They keep their
	// default, so validating them would only repeat the problem.
	failed map[string]bool
}

// decodeFailed reports whether path or a table above it failed to decode.
func (s source) decodeFailed(path string) bool {
	for ; path != ""; path = parentPath(path) {
		if s.failed[path] {
			return true
		}
	}
	return false
}

// fieldError returns a FieldError for field, positioned at field's line if
// the file has it, else at the first of related that the file has (the
// settings that make field a problem), else at the closest table above field
// that the file mentions.
func (s source) fieldError(field string, err error, related ...string) *FieldError {
	line, ok := s.pos[field]
	for _, r := range related {
		if ok {
			break
		}
		line, ok = s.pos[r]
	}
	if !ok {
		line = s.pos.line(field)
	}
	return &FieldError{File: s.file, Line: line, Field: field, Err: err}
}

// positions maps key paths, rendered as in FieldError.Field ("c2s",
// "c2s.listen", "c2s.listen[1]", "tls.certificate[0].cert_file"), to the
// 1-based line where the file first mentions them.
type positions map[string]int

// line returns the line of path or, if the file does not mention it, of its
// closest ancestor; 0 if none appears.
func (p positions) line(path string) int {
	for path != "" {
		if n, ok := p[path]; ok {
			return n
		}
		path = parentPath(path)
	}
	return 0
}

// parentPath strips the last ".key" or "[i]" from path. Quoted keys holding
// '.' or '[' may be split wrongly; that only costs a less precise line.
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// index walks data's syntax tree to find where each key path is. data must
// already have been accepted by toml.Unmarshal: the walk mirrors TOML's
// table rules but does not check them.
func index(data []byte) positions {
	var newlines []int
	for i, b := range data {
		if b == '\n' {
			newlines = append(newlines, i)
		}
	}
	ix := indexer{
		pos:      positions{},
		arrays:   map[string]int{},
		newlines: newlines,
	}
	var p unstable.Parser
	p.Reset(data)
	table := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = ix.header(e)
		case unstable.KeyValue:
			ix.keyValue(table, e)
		}
	}
	return ix.pos
}

type indexer struct {
	pos positions
	// arrays counts the elements of each array of tables seen so far, so
	// that a header naming it refers to its last element.
	arrays   map[string]int
	newlines []int // offsets of '\n' in the document
}

// line converts a byte offset to a 1-based line number.
func (ix *indexer) line(offset uint32) int {
	n, _ := slices.BinarySearch(ix.newlines, int(offset))
	return n + 1
}

func (ix *indexer) set(path string, line int) {
	if _, ok := ix.pos[path]; !ok {
		ix.pos[path] = line
	}
}

// header records a [table] or [[array.table]] header and returns the path
// its key-values go under.
func (ix *indexer) header(e *unstable.Node) string {
	path := ""
	it := e.Key()
	for it.Next() {
		k := it.Node()
		path = joinPath(path, keyString(string(k.Data)))
		line := ix.line(k.Raw.Offset)
		ix.set(path, line)
		if it.IsLast() && e.Kind == unstable.ArrayTable {
			n := ix.arrays[path]
			ix.arrays[path] = n + 1
			path = indexPath(path, n)
			ix.set(path, line)
		} else if n, ok := ix.arrays[path]; ok {
			path = indexPath(path, n-1)
		}
	}
	return path
}

// keyValue records a possibly dotted key and its value under table.
func (ix *indexer) keyValue(table string, e *unstable.Node) {
	path, line := table, 0
	it := e.Key()
	for it.Next() {
		k := it.Node()
		path = joinPath(path, keyString(string(k.Data)))
		line = ix.line(k.Raw.Offset)
		ix.set(path, line)
	}
	ix.value(path, e.Value(), line)
}

// value records the elements of arrays and inline tables; line is the
// enclosing key's, used for values without a position of their own.
func (ix *indexer) value(path string, v *unstable.Node, line int) {
	switch v.Kind {
	case unstable.Array:
		i := 0
		it := v.Children()
		for it.Next() {
			el := it.Node()
			if el.Kind == unstable.Comment {
				continue
			}
			l := line
			if el.Raw.Length > 0 {
				l = ix.line(el.Raw.Offset)
			}
			p := indexPath(path, i)
			ix.set(p, l)
			ix.value(p, el, l)
			i++
		}
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			if kv := it.Node(); kv.Kind == unstable.KeyValue {
				ix.keyValue(path, kv)
			}
		}
	}
}

// joinPath appends the rendered key k to path.
func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// keyString renders one key as TOML would accept it: bare if it can be,
// quoted otherwise.
func keyString(k string) string {
	if k == "" {
		return `""`
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return strconv.Quote(k)
		}
	}
	return k
}

// decoder applies a generic TOML document to the Config structs, by their
// toml tags, collecting one FieldError per problem.
type decoder struct {
	src  source
	errs []*FieldError
}

func (d *decoder) fail(path string, err error) {
	d.src.failed[path] = true
	d.errs = append(d.errs, d.src.fieldError(path, err))
}

// table decodes the TOML table m into the struct rv.
func (d *decoder) table(path string, m map[string]any, rv reflect.Value) {
	rt := rv.Type()
	fields := make(map[string]int, rt.NumField())
	for i := range rt.NumField() {
		fields[tagName(rt.Field(i))] = i
	}
	// Sorted, so that errors on one line come out in a stable order.
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := joinPath(path, keyString(k))
		i, ok := fields[k]
		if !ok {
			d.fail(p, unknownKey(m[k], k, fields))
			continue
		}
		d.value(p, m[k], rv.Field(i))
	}
}

// tagName returns the TOML key of a struct field.
func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	return name
}

func unknownKey(v any, k string, fields map[string]int) error {
	what := "unknown key"
	if _, ok := v.(map[string]any); ok {
		what = "unknown table"
	}
	if s := suggest(k, fields); s != "" {
		return errorf(ErrUnknownKey, "%s (did you mean %q?)", what, s)
	}
	return errorf(ErrUnknownKey, "%s", what)
}

// suggest returns the known key closest to the unknown k, if it is close
// enough to be a typo.
func suggest(k string, fields map[string]int) string {
	best, bestDist := "", 3 // at most two edits
	for f := range fields {
		dist := editDistance(strings.ToLower(k), f)
		if dist < bestDist || dist == bestDist && f < best {
			best, bestDist = f, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, computed on
// bytes; keys are short.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return math.MaxInt
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// value decodes v into rv, an addressable value of a type the Config
// structs use.
func (d *decoder) value(path string, v any, rv reflect.Value) {
	switch rv.Addr().Interface().(type) {
	case *time.Duration:
		s, ok := v.(string)
		if !ok {
			d.fail(path, errorf(ErrType, `want a duration such as "30s", got %s`, typeName(v)))
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.fail(path, errorf(ErrInvalid, `%q: not a duration (write a number and a unit: "90s", "5m", "1h30m")`, s))
			return
		}
		rv.SetInt(int64(dur))
	case *Size:
		n, err := parseSize(v)
		if err != nil {
			d.fail(path, err)
			return
		}
		rv.SetInt(n)
	case *slog.Level:
		s, ok := v.(string)
		if !ok {
			d.fail(path, errorf(ErrType, "want a string, got %s", typeName(v)))
			return
		}
		l, ok := parseLevel(s)
		if !ok {
			d.fail(path, errorf(ErrInvalid, "%q: want one of debug, info, warn, error", s))
			return
		}
		rv.SetInt(int64(l))
	default:
		d.plain(path, v, rv)
	}
}

// plain decodes the types that need no special syntax.
func (d *decoder) plain(path string, v any, rv reflect.Value) {
	switch rv.Kind() {
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			d.fail(path, errorf(ErrType, "want a string, got %s", typeName(v)))
			return
		}
		rv.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			d.fail(path, errorf(ErrType, "want true or false, got %s", typeName(v)))
			return
		}
		rv.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, ok := v.(int64)
		if !ok {
			d.fail(path, errorf(ErrType, "want an integer, got %s", typeName(v)))
			return
		}
		// int is 32 bits on armv6 and armv7.
		if rv.OverflowInt(n) {
			d.fail(path, errorf(ErrRange, "%d: too large", n))
			return
		}
		rv.SetInt(n)
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			d.fail(path, errorf(ErrType, "want an array, got %s", typeName(v)))
			return
		}
		if len(arr) == 0 {
			// nil, not empty, so that `listen = []` equals an unset list.
			rv.SetZero()
			return
		}
		s := reflect.MakeSlice(rv.Type(), len(arr), len(arr))
		for i, el := range arr {
			d.value(indexPath(path, i), el, s.Index(i))
		}
		rv.Set(s)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			d.fail(path, errorf(ErrType, "want a table, got %s", typeName(v)))
			return
		}
		d.table(path, m, rv)
	default:
		// Only reachable if a field of an unsupported type is added to
		// Config; TestSchemaTypes guards against that.
		panic(fmt.Sprintf("config: field %s has unsupported type %s", path, rv.Type()))
	}
}

// typeName names the TOML type of a value go-toml decoded into a map.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date-time"
	case toml.LocalDate:
		return "a date"
	case toml.LocalTime:
		return "a time"
	case toml.LocalDateTime:
		return "a date-time"
	}
	return fmt.Sprintf("%T", v)
}

// parseLevel accepts the four level names roost documents, lowercase only.
func parseLevel(s string) (slog.Level, bool) {
	switch s {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return 0, false
}

// levelName is parseLevel's inverse.
func levelName(l slog.Level) (string, bool) {
	switch l {
	case slog.LevelDebug:
		return "debug", true
	case slog.LevelInfo:
		return "info", true
	case slog.LevelWarn:
		return "warn", true
	case slog.LevelError:
		return "error", true
	}
	return "", false
}

// parseSize accepts an integer number of bytes or a string "<n><unit>" with
// an optional space, unit B, KiB, MiB or GiB.
func parseSize(v any) (int64, error) {
	switch v := v.(type) {
	case int64:
		return v, nil
	case string:
		num := strings.TrimRight(v, "BKMGi ")
		unit := strings.TrimSpace(v[len(num):])
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || num == "" || num[0] == '+' || num[0] == '-' {
			return 0, errorf(ErrInvalid, `%q: not a size (write bytes, or a number and B, KiB, MiB or GiB: "256KiB")`, v)
		}
		var shift uint
		switch unit {
		case "", "B":
		case "KiB":
			shift = 10
		case "MiB":
			shift = 20
		case "GiB":
			shift = 30
		default:
			return 0, errorf(ErrInvalid, `%q: unknown unit %q (use B, KiB, MiB or GiB)`, v, unit)
		}
		if n > math.MaxInt64>>shift {
			return 0, errorf(ErrRange, "%q: too large", v)
		}
		return n << shift, nil
	}
	return 0, errorf(ErrType, `want a size such as 262144 or "256KiB", got %s`, typeName(v))
}
