package xmlstream

// RFC 6120 gives stream errors (§4.9.2) and stanza errors (§8.3.2) the same
// content: one defined-condition element in the namespace of the kind of
// error, an optional <text/> in that namespace, and an optional
// application-specific condition in any other namespace. Packages stream
// and stanza write and read it with these two functions.

// AppendCondition appends the content of a stream or stanza error to e:
// the defined condition cond in namespace space, then text (marked as
// English) unless it is empty, then app unless it is nil. It returns e and
// mutates it.
func (e *Element) AppendCondition(space, cond, text string, app *Element) *Element {
	e.Append(New(space, cond))
	if text != "" {
		e.Append(New(space, "text").SetAttrNS(NSXML, "lang", "en").AppendText(text))
	}
	return e.Append(app)
}

// ReadCondition reads the content of a received stream or stanza error e
// whose conditions are in namespace space: the defined condition ("" if
// there is none), the text, and the application-specific condition. Where a
// peer sent several, the last one wins.
func (e *Element) ReadCondition(space string) (cond, text string, app *Element) {
	for c := range e.Elements() {
		switch {
		case c.Name.Space != space:
			app = c
		case c.Name.Local == "text":
			text = c.Text()
		default:
			cond = c.Name.Local
		}
	}
	return cond, text, app
}
