package prosody

import (
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadReturn(t *testing.T) {
	got, err := readReturn(strings.NewReader("-- a comment\nreturn {\n\t[\"s\"] = \"a\\\"b\\\\c\\n\\065\\226\\130\\172\\x41\\u{20AC}\";\n\t[false] = {\n\t\t[\"version\"] = 6;\n\t};\n"+
		"\t[1] = \"one\";\n\t[2] = { \"x\"; true; nil; };\n\tname = 1.5;\n\t[\"n\"] = -12;\n\t[\"h\"] = 0x10;\n\t[\"inf\"] = (1/0);\n\t[\"o\"] = 010;\n};\n"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	tab := got.(*Table)
	if s, _ := tab.String("s"); s != "a\"b\\c\nA€A€" {
		t.Errorf("s = %q", s)
	}
	if v, _ := tab.Table(false).Number("version"); v != 6 {
		t.Errorf("version = %v", v)
	}
	if diff := cmp.Diff([]any{"one", &Table{Array: []any{"x", true, nil}}}, tab.Array); diff != "" {
		t.Errorf("array (-want +got):\n%s", diff)
	}
	for k, want := range map[string]float64{"name": 1.5, "n": -12, "h": 16, "o": 10, "inf": math.Inf(1)} {
		if v, _ := tab.Number(k); v != want {
			t.Errorf("%s = %v, want %v", k, v, want)
		}
	}
	if diff := cmp.Diff([]any{"s", false, "name", "n", "h", "inf", "o"}, tab.Keys); diff != "" {
		t.Errorf("keys in file order (-want +got):\n%s", diff)
	}
}

func TestEachItem(t *testing.T) {
	var got []string
	err := eachItem(strings.NewReader("item({\n\t[\"key\"] = \"a\";\n});\nitem({ [\"key\"] = \"b\" })\n"), Limits{}, func(t *Table) error {
		k, _ := t.String("key")
		got = append(got, k)
		return nil
	})
	if err != nil || !cmp.Equal(got, []string{"a", "b"}) {
		t.Errorf("items %v, %v", got, err)
	}
}

func TestLuaErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		lim      Limits
		want     error
	}{
		{"empty", "", Limits{}, io.ErrUnexpectedEOF},
		{"no return", "{}", Limits{}, ErrSyntax},
		{"truncated", "return { [\"a\"] = \"b", Limits{}, io.ErrUnexpectedEOF},
		{"call", "return os.exit(1)", Limits{}, ErrSyntax},
		{"bad escape", `return "\q"`, Limits{}, ErrSyntax},
		{"big escape", `return "\300"`, Limits{}, ErrSyntax},
		{"trailing", "return 1; return 2", Limits{}, ErrSyntax},
		{"too large", "return \"" + strings.Repeat("x", 100) + "\"", Limits{MaxBytes: 50}, ErrTooLarge},
		{"too deep", "return " + strings.Repeat("{", 10) + strings.Repeat("}", 10), Limits{MaxDepth: 5}, ErrTooLarge},
		{"table key", "return { [{}] = 1 }", Limits{}, ErrSyntax},
		{"nan key", "return { [(0/0)] = 1 }", Limits{}, ErrSyntax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := readReturn(strings.NewReader(tc.in), tc.lim); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzLua: no input makes the reader panic or loop; every failure is
// one of its errors.
func FuzzLua(f *testing.F) {
	f.Add("return {\n\t[\"a\"] = { \"x\"; [\"attr\"] = { [\"xmlns\"] = \"urn:x\"; }; [\"name\"] = \"e\"; };\n\t[false] = true;\n};\n")
	f.Add("item({ [\"when\"] = 1.5; [\"key\"] = \"k\\226\\130\\172\"; [1] = (1/0); });\n")
	f.Add("return { 0x1p4, -0.5e-3, 'q\\z   r', \"\\u{7FFFFFFF}\" }")
	f.Fuzz(func(t *testing.T, in string) {
		lim := Limits{MaxBytes: 1 << 16, MaxDepth: 32}
		check := func(err error) {
			if err != nil && !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("error %v is none of the reader's", err)
			}
		}
		v, err := readReturn(strings.NewReader(in), lim)
		check(err)
		if tab, ok := v.(*Table); ok && err == nil {
			_, _ = element(tab, "", 0) // stanza conversion of anything: no panic
		}
		check(eachItem(strings.NewReader(in), lim, func(t *Table) error {
			_, _ = element(t, "", 0)
			return nil
		}))
	})
}
