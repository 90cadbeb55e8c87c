package qrcode

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// svgModules reads back the dark modules an SVG from Code.SVG draws.
func svgModules(t testing.TB, svg string, n int) [][]bool {
	t.Helper()
	grid := make([][]bool, n)
	for i := range grid {
		grid[i] = make([]bool, n)
	}
	d := regexp.MustCompile(` d="([^"]*)"`).FindStringSubmatch(svg)
	if d == nil {
		t.Fatalf("no path in %.80s", svg)
	}
	for _, m := range regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`).FindAllStringSubmatch(d[1], -1) {
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		w, _ := strconv.Atoi(m[3])
		for i := range w {
			grid[y-Quiet][x-Quiet+i] = true
		}
	}
	return grid
}

// terminalModules reads back the modules a Terminal drawing shows as dark.
func terminalModules(t testing.TB, s string, color bool, n int) [][]bool {
	t.Helper()
	s = strings.NewReplacer(blackOnWhite, "", reset, "").Replace(s)
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	full := n + 2*Quiet
	if want := (full + 1) / 2; len(lines) != want {
		t.Fatalf("%d lines, want %d", len(lines), want)
	}
	grid := make([][]bool, full+1)
	for i := range grid {
		grid[i] = make([]bool, full)
	}
	for row, line := range lines {
		cells := []rune(line)
		if len(cells) != full {
			t.Fatalf("line %d has %d cells, want %d", row, len(cells), full)
		}
		for x, r := range cells {
			top := r == '█' || r == '▀'
			bottom := r == '█' || r == '▄'
			if !color {
				top, bottom = !top, !bottom
			}
			grid[2*row][x], grid[2*row+1][x] = top, bottom
		}
	}
	out := make([][]bool, n)
	for y := range n {
		out[y] = grid[y+Quiet][Quiet : Quiet+n]
	}
	return out
}

func check(t *testing.T, c *Code, got [][]bool, what string) {
	t.Helper()
	for y := range c.Size() {
		for x := range c.Size() {
			if got[y][x] != c.Dark(x, y) {
				t.Fatalf("%s: module %d,%d dark = %v, want %v", what, x, y, got[y][x], c.Dark(x, y))
			}
		}
	}
}

func TestDrawings(t *testing.T) {
	tests := []struct{ name, text string }{
		{"invitation link", "https://family.example.org/invite/k3j9x2abcdefghijklmnopqrst"},
		{"xmpp uri", "xmpp:example.org?register;preauth=abcdefghijklmnopqrstuvwxyz"},
		{"short", "x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Encode(tc.text)
			if err != nil {
				t.Fatal(err)
			}
			if c.Size() < 21 || (c.Size()-17)%4 != 0 {
				t.Fatalf("size %d is no QR version's", c.Size())
			}
			svg := c.SVG(`link "a" <b>`)
			if !strings.Contains(svg, `aria-label="link &quot;a&quot; &lt;b&gt;"`) {
				t.Errorf("label not escaped: %.200s", svg)
			}
			check(t, c, svgModules(t, svg, c.Size()), "svg")
			check(t, c, terminalModules(t, c.Terminal(true), true, c.Size()), "terminal, color")
			check(t, c, terminalModules(t, c.Terminal(false), false, c.Size()), "terminal, plain")
		})
	}
}

func TestTooLong(t *testing.T) {
	if _, err := Encode(strings.Repeat("x", 5000)); err == nil {
		t.Error("Encode(5000 bytes) succeeded, want an error: no QR version holds it")
	}
}

// FuzzEncode: any text either fails to encode or draws the code it encodes.
func FuzzEncode(f *testing.F) {
	f.Add("https://example.org/invite/abc")
	f.Add("")
	f.Add("\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Encode(s)
		if err != nil {
			return
		}
		check(t, c, svgModules(t, c.SVG(s), c.Size()), "svg")
	})
}

func BenchmarkSVG(b *testing.B) {
	c, err := Encode("https://family.example.org/invite/k3j9x2abcdefghijklmnopqrst")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = c.SVG("invitation")
	}
}
