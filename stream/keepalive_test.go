package stream

import (
	"errors"
	"slices"
	"testing"
	"time"
)

type idleLog []time.Duration

func (l *idleLog) SetIdle(d time.Duration) { *l = append(*l, d) }

func TestKeepalive(t *testing.T) {
	const idle, answer = 5 * time.Minute, time.Minute
	tests := []struct {
		name      string
		events    string // t: a read timed out, h: an element was read
		wantPings int
		wantIdle  []time.Duration
		wantErr   bool
	}{
		{"traffic only", "hhh", 0, nil, false},
		{"answered ping", "th", 1, []time.Duration{answer, idle}, false},
		{"two idle periods", "thth", 2, []time.Duration{answer, idle, answer, idle}, false},
		{"no answer", "tt", 1, []time.Duration{answer}, true},
		{"late traffic does not reset twice", "thh", 1, []time.Duration{answer, idle}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log idleLog
			k := NewKeepalive(&log, idle, answer)
			pings := 0
			var err error
			for _, ev := range tt.events {
				if ev == 'h' {
					k.Heard()
					continue
				}
				if err = k.TimedOut(func() { pings++ }); err != nil {
					break
				}
			}
			var se *Error
			if gotErr := errors.As(err, &se) && se.Condition == ConnectionTimeout; gotErr != tt.wantErr {
				t.Errorf("err = %v, want connection-timeout: %t", err, tt.wantErr)
			}
			if pings != tt.wantPings {
				t.Errorf("pings = %d, want %d", pings, tt.wantPings)
			}
			if !slices.Equal(log, tt.wantIdle) {
				t.Errorf("SetIdle calls = %v, want %v", log, tt.wantIdle)
			}
		})
	}
}
