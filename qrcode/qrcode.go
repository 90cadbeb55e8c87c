package qrcode

import (
	"fmt"
	"strconv"
	"strings"

	"rsc.io/qr"
)

// Quiet is the width of the light margin around a code, in modules
// (ISO/IEC 18004 §6.3.8).
const Quiet = 4

// Code is an encoded QR code.
type Code struct {
	text string
	c    *qr.Code
}

// Encode makes the QR code of text.
func Encode(text string) (*Code, error) {
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return nil, fmt.Errorf("encode QR code: %w", err)
	}
	return &Code{text: text, c: c}, nil
}

// Size is the width of the code in modules, without the quiet zone.
func (c *Code) Size() int { return c.c.Size }

// Dark reports whether the module at x, y is dark; outside the code
// (the quiet zone) it is light.
func (c *Code) Dark(x, y int) bool {
	if x < 0 || y < 0 || x >= c.c.Size || y >= c.c.Size {
		return false
	}
	return c.c.Black(x, y)
}

// SVG returns an <svg> element showing the code, with label as its
// accessible name. It scales to its container.
func (c *Code) SVG(label string) string {
	n := c.c.Size + 2*Quiet
	var b strings.Builder
	b.Grow(64 + 12*c.c.Size*c.c.Size/2)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-label="%s" shape-rendering="crispEdges">`,
		n, n, escape(label))
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y := range c.c.Size {
		for x := 0; x < c.c.Size; x++ {
			if !c.c.Black(x, y) {
				continue
			}
			// One horizontal run per subpath keeps the path short.
			run := 1
			for x+run < c.c.Size && c.c.Black(x+run, y) {
				run++
			}
			b.WriteString("M")
			b.WriteString(strconv.Itoa(x + Quiet))
			b.WriteString(" ")
			b.WriteString(strconv.Itoa(y + Quiet))
			b.WriteString("h")
			b.WriteString(strconv.Itoa(run))
			b.WriteString("v1h-")
			b.WriteString(strconv.Itoa(run))
			b.WriteString("z")
			x += run - 1
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String()
}

// Half blocks: the upper and lower module of one character cell.
const (
	upper = "▀"
	lower = "▄"
	full  = "█"
)

// ANSI colors: black on white, and back to the terminal's own.
const (
	blackOnWhite = "\x1b[30;47m"
	reset        = "\x1b[0m"
)

// Terminal returns the code drawn with half-block characters, one line per
// two rows of modules, quiet zone included. With color it sets black on
// white itself and draws the dark modules; without, it draws the light
// modules, for a terminal that shows light text on a dark background.
func (c *Code) Terminal(color bool) string {
	n := c.c.Size + 2*Quiet
	var b strings.Builder
	for y := -Quiet; y < c.c.Size+Quiet; y += 2 {
		if color {
			b.WriteString(blackOnWhite)
		}
		for x := -Quiet; x < n-Quiet; x++ {
			top, bottom := c.Dark(x, y), c.Dark(x, y+1)
			if !color {
				// Draw the light modules.
				top, bottom = !top, !bottom
				if y+1 >= c.c.Size+Quiet {
					bottom = false // below the code: the terminal's own ground
				}
			}
			switch {
			case top && bottom:
				b.WriteString(full)
			case top:
				b.WriteString(upper)
			case bottom:
				b.WriteString(lower)
			default:
				b.WriteString(" ")
			}
		}
		if color {
			b.WriteString(reset)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// escape makes s safe inside a double-quoted XML attribute.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
