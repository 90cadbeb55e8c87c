// Package form reads and writes data forms (XEP-0004), the "jabber:x:data"
// element that group-chat configuration (XEP-0045 §10), pubsub node
// configuration and publish options (XEP-0060), archive queries
// (XEP-0313), ad-hoc commands (XEP-0050), upload limits and extended
// service discovery (XEP-0128) all carry.
//
// # Model
//
// A [Form] is a value: its type (form, submit, cancel, result), title,
// instructions, fields in document order, and, for multi-item results
// (§3.4), the reported field set and the items. Fields keep their values
// as strings, exactly as on the wire; typed accessors interpret them
// (booleans accept "1"/"true"/"0"/"false", §3.3). [Form.FormType] is the
// value of the hidden FORM_TYPE field (XEP-0068) that names the form's
// registered meaning.
//
// # Parsing
//
// [Parse] is strict where a wrong answer could change server state: an
// unknown form type, a field without var in a submitted form (other than
// fixed fields, §3.2), or a field listed twice is an error of type
// [ErrMalformed], so that callers can answer bad-request and change
// nothing. It never panics on any input (see the fuzz target).
//
// # Concurrency
//
// Forms are plain values with no shared state; copy before sharing a form
// that will be modified.
package form
