package jid

import (
	"fmt"
	"testing"
	"unicode/utf8"
)

// TestAllCodePoints puts every code point of planes 0 to 2 into each part and
// checks the properties of FuzzParse on the result, which random fuzzing is
// unlikely to reach for rare mappings (it found U+2135..U+2138, see stable).
// It takes a few seconds and is skipped with -short.
func TestAllCodePoints(t *testing.T) {
	if testing.Short() {
		t.Skip("scans 196608 code points")
	}
	const end, chunk = 0x30000, 0x4000
	for lo := rune(0); lo < end; lo += chunk {
		t.Run(fmt.Sprintf("U+%04X", lo), func(t *testing.T) {
			t.Parallel()
			for r := lo; r < lo+chunk; r++ {
				if !utf8.ValidRune(r) {
					continue
				}
				c := string(r)
				for _, in := range []string{
					c + "@example.org", "x" + c + "1@example.org",
					"a@" + c + ".example", "a@x" + c + "y.example",
					"a@example.org/" + c, "a@example.org/x" + c + "\u0301",
					c + "a\u0301@example.org",
				} {
					j, err := Parse(in)
					slow, serr := parse(in, false)
					if fs, ss := sentinelOf(t, err), sentinelOf(t, serr); fs != ss || j != slow {
						t.Fatalf("Parse(%q) = %#v, %v; slow path = %#v, %v", in, j, err, slow, serr)
					}
					if err == nil {
						checkCanonical(t, in, j)
					}
				}
			}
		})
	}
}
