package pep

import (
	"context"

	"roost/discoinfo"
	"roost/form"
	"roost/jid"
	"roost/module"
)

// Nodes implements module.AccountNodes: the account's nodes that
// requester may see, for disco#items (XEP-0060 §5.2).
func (m *Module) Nodes(ctx context.Context, account, requester jid.JID) ([]module.NodeItem, error) {
	self := requester.Bare().Equal(account)
	var out []module.NodeItem
	err := m.st.PEPNodes(account.String(), func(name string, rec []byte) error {
		n, err := decodeNode(rec)
		if err != nil {
			return err
		}
		if self || m.access(ctx, account, n, requester) == nil {
			out = append(out, module.NodeItem{Node: name, Name: n.Config.Title})
		}
		return nil
	})
	return out, err
}

// NodeInfo implements module.AccountNodes: a node's identity and
// meta-data (XEP-0060 §5.3, §5.4), for whoever may see it.
func (m *Module) NodeInfo(ctx context.Context, account, requester jid.JID, name string) (discoinfo.Info, error) {
	n, err := m.existing(account, name)
	if err != nil {
		return discoinfo.Info{}, err
	}
	if !requester.Bare().Equal(account) {
		if err := m.access(ctx, account, n, requester); err != nil {
			return discoinfo.Info{}, err
		}
	}
	return discoinfo.Info{
		Identities: []discoinfo.Identity{{Category: "pubsub", Type: "leaf"}},
		Features:   []string{NS},
		Forms:      []*form.Form{metaData(&n.Config)},
	}, nil
}
