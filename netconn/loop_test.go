package netconn

import (
	"errors"
	"log/slog"
	"net"
	"testing"
)

type tempErr struct{}

func (tempErr) Error() string   { return "too many open files" }
func (tempErr) Temporary() bool { return true }
func (tempErr) Timeout() bool   { return false }

// scripted returns the given results from Accept, in order.
type scripted struct {
	net.Listener
	results []error
}

func (s *scripted) Accept() (net.Conn, error) {
	err := s.results[0]
	s.results = s.results[1:]
	if err != nil {
		return nil, err
	}
	c, _ := net.Pipe()
	return c, nil
}

func TestLoop(t *testing.T) {
	fatal := errors.New("listener closed")
	tests := []struct {
		name    string
		results []error
		served  int
	}{
		{"temporary errors are retried", []error{tempErr{}, nil, tempErr{}, tempErr{}, nil, fatal}, 2},
		{"another error ends the loop", []error{fatal, nil}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			served := 0
			err := loop(&scripted{results: tc.results}, slog.New(slog.DiscardHandler), func(c net.Conn) {
				served++
				_ = c.Close()
			})
			if !errors.Is(err, fatal) {
				t.Errorf("loop returned %v, want %v", err, fatal)
			}
			if served != tc.served {
				t.Errorf("served %d connections, want %d", served, tc.served)
			}
		})
	}
}
