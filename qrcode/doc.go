// Package qrcode draws QR codes (ISO/IEC 18004) for people to scan: an
// invitation link shown on a web page (SVG) or in a terminal (text).
//
// The encoding itself is rsc.io/qr's, at error-correction level M (15% of
// the code may be damaged or hidden). This package only draws: [Code.SVG]
// writes one <path> of unit squares with a four-module quiet zone, the
// margin the standard requires, scaled by the viewer; [Code.Terminal]
// writes two rows of modules per line with the half-block characters, so
// that a code keeps its square shape in a terminal whose cells are twice
// as tall as wide.
//
// A terminal may have a dark or a light background, and a scanner wants
// dark modules on a light ground. With colors on, Terminal sets black on
// white explicitly, which reads the same on either; without colors it
// draws the light modules as blocks, which suits the dark terminals most
// people run commands in.
//
// # Concurrency
//
// A [Code] is immutable once made and safe for concurrent use.
package qrcode
