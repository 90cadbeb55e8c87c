package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// Render writes c as a TOML file, every key explicit and keys sorted, for
// `roost check` to show the configuration in effect. Paths are written as
// they are, so for a valid c whose paths are absolute or clean (as Parse
// returns them), Parse(name, Render(c)) gives c back when name is in the
// working directory.
func (c Config) Render() ([]byte, error) {
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf).SetIndentTables(false)
	if err := enc.Encode(renderValue(reflect.ValueOf(c))); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	return buf.Bytes(), nil
}

// renderValue converts a value of one of the Config types into the generic
// form toml.Marshal writes the way decode reads it back.
func renderValue(rv reflect.Value) any {
	switch v := rv.Interface().(type) {
	case time.Duration:
		return formatDuration(v)
	case Size:
		return int64(v)
	case slog.Level:
		if name, ok := levelName(v); ok {
			return name
		}
		return strings.ToLower(v.String())
	}
	switch rv.Kind() {
	case reflect.String:
		return rv.String()
	case reflect.Bool:
		return rv.Bool()
	case reflect.Int, reflect.Int64:
		return rv.Int()
	case reflect.Slice:
		// Always written, even when empty: a missing key would mean the
		// default, which may not be empty.
		s := make([]any, rv.Len())
		for i := range s {
			s[i] = renderValue(rv.Index(i))
		}
		if rv.Type().Elem().Kind() == reflect.Struct {
			// An array of tables, [[name]], rather than inline tables.
			tables := make([]map[string]any, len(s))
			for i := range s {
				tables[i] = s[i].(map[string]any)
			}
			return tables
		}
		return s
	case reflect.Struct:
		rt := rv.Type()
		m := make(map[string]any, rt.NumField())
		for i := range rt.NumField() {
			m[tagName(rt.Field(i))] = renderValue(rv.Field(i))
		}
		return m
	}
	panic(fmt.Sprintf("config: cannot render %s", rv.Type()))
}
