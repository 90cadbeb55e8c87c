package module

import (
	"context"

	"roost/discoinfo"
	"roost/router"
	"roost/stanza"
	"roost/xmlstream"
)

// serviceHandler answers disco#info for a service's bare domain from its
// declared Info, and hands everything else to the service.
func serviceHandler(svc Service) router.Handler {
	if len(svc.Info.Identities) == 0 {
		return svc.Handler
	}
	info := svc.Info.Query("")
	return router.HandlerFunc(func(ctx context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
		if st.Kind == stanza.IQ && st.Type == stanza.TypeGet && st.To.Local() == "" && st.To.Resource() == "" {
			if q := st.El.FirstChild(); q.Is(discoinfo.NSInfo, "query") && q.Get("node") == "" {
				return stanza.ResultIQ(st, info), nil
			}
		}
		return svc.Handler.HandleStanza(ctx, st)
	})
}
