package xmlstream

import (
	"bytes"
	"errors"
	"io"
	"strings"
)

// fragmentHeader opens a stream with no default namespace, so that a
// standalone element is read with only its own declarations in scope.
const fragmentHeader = `<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>`

// ErrTrailingData is returned by [Parse] when more follows the element.
var ErrTrailingData = errors.New("xmlstream: data after the element")

// Parse reads one standalone element, as AppendElement(nil, e, "") writes
// it, for stanzas kept in storage. It applies the same restrictions and
// limits as a stream.
func Parse(b []byte, lim Limits) (*Element, error) {
	d := NewDecoder(io.MultiReader(strings.NewReader(fragmentHeader), bytes.NewReader(b)), lim)
	if _, err := d.ReadHeader(); err != nil {
		return nil, err
	}
	el, err := d.ReadElement()
	if err != nil {
		return nil, err
	}
	if _, err := d.ReadElement(); err != io.EOF {
		return nil, ErrTrailingData
	}
	return el, nil
}

// ParseStored reads an element the server stored itself. The data passed
// the configured limits when it arrived; the generous bounds here only
// keep it readable if an operator lowers the limits later.
func ParseStored(b []byte) (*Element, error) {
	return Parse(b, Limits{MaxStanzaBytes: len(b) + 128, MaxDepth: 1024, MaxAttrs: 1024})
}
