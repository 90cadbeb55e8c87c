package netconn

import (
	"errors"
	"testing"
)

func TestPhase(t *testing.T) {
	shut := errors.New("system-shutdown")
	t.Run("stopped while negotiating", func(t *testing.T) {
		var p Phase
		if p.Stop(shut) {
			t.Error("Stop reported running before Run")
		}
		if got := p.Stopped(); got != shut {
			t.Errorf("Stopped() = %v, want %v", got, shut)
		}
		if got := p.Run(); got != shut {
			t.Errorf("Run() = %v, want the reason of the earlier Stop", got)
		}
	})
	t.Run("stopped while running", func(t *testing.T) {
		var p Phase
		if got := p.Run(); got != nil {
			t.Errorf("Run() = %v, want nil", got)
		}
		if !p.Stop(shut) {
			t.Error("Stop reported negotiating after Run")
		}
		if got := p.Stopped(); got != nil {
			t.Errorf("Stopped() = %v after a Stop while running, want nil (the caller closes it)", got)
		}
	})
}
