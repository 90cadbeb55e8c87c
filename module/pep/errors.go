package pep

import (
	"errors"

	"roost/stanza"
	"roost/xmlstream"
)

// Errors.
var (
	// ErrCorrupt means a stored node record or item could not be read.
	ErrCorrupt = errors.New("pep: stored data is damaged")
)

// pubsubError is a stanza error with a pubsub-specific condition of
// XEP-0060 §14 (qualified by pubsub#errors), and a text for people.
func pubsubError(c stanza.Condition, app, text string) *stanza.Error {
	e := stanza.NewError(c, text)
	if app != "" {
		e.App = xmlstream.New(NSErrors, app)
	}
	return e
}

// unsupported says that a feature is not implemented (XEP-0060 §14,
// <unsupported feature='...'/>).
func unsupported(feature, text string) *stanza.Error {
	e := stanza.NewError(stanza.FeatureNotImplemented, text)
	e.App = xmlstream.New(NSErrors, "unsupported").SetAttr("feature", feature)
	return e
}

// The errors XEP-0060 names for its use cases.
func errNodeRequired() *stanza.Error {
	return pubsubError(stanza.BadRequest, "nodeid-required", "name the node with a node attribute")
}

func errNoNode(node string) *stanza.Error {
	return stanza.NewError(stanza.ItemNotFound, "there is no node "+node)
}

func errNotOwner() *stanza.Error {
	return stanza.NewError(stanza.Forbidden, "only the account itself may do that")
}
