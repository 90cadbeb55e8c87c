package loadtool

import (
	"bytes"
	"strconv"
	"strings"
	"time"
)

// A marker travels in every message body: which run, pair and direction
// it belongs to, its sequence number, and when it was (meant to be) sent,
// as an offset from the run's start. Receivers find it in the body of a
// parsed stanza, or by scanning raw bytes when nothing parses XML (the
// relay floor); servers copy the body unchanged, so both see the same
// text.
//
//	{rb:<run>:<pair>:<a|b>:<seq>:<nanoseconds>}
type marker struct {
	run   string
	pair  int
	side  byte // 'a': sent by the pair's first session, 'b': by the second
	seq   uint64
	stamp time.Duration
}

const (
	markerPrefix = "{rb:"
	// maxMarker bounds a marker's length: the run (16) plus four numbers
	// and separators fit easily.
	maxMarker = 96
)

func appendMarker(b []byte, run string, pair int, side byte, seq uint64, stamp time.Duration) []byte {
	b = append(b, markerPrefix...)
	b = append(b, run...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(pair), 10)
	b = append(b, ':', side, ':')
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(stamp), 10)
	return append(b, '}')
}

// parseMarker reads the marker at the start of s up to its closing brace.
// It does not allocate: the run is a substring of s.
func parseMarker(s string) (marker, bool) {
	rest, ok := strings.CutPrefix(s, markerPrefix)
	if !ok {
		return marker{}, false
	}
	end := strings.IndexByte(rest, '}')
	if end < 0 || end > maxMarker {
		return marker{}, false
	}
	rest = rest[:end]
	var f [5]string
	for i := range f {
		var found bool
		if f[i], rest, found = strings.Cut(rest, ":"); found != (i < len(f)-1) {
			return marker{}, false
		}
	}
	if f[0] == "" || len(f[2]) != 1 || (f[2][0] != 'a' && f[2][0] != 'b') {
		return marker{}, false
	}
	pair, err1 := strconv.Atoi(f[1])
	seq, err2 := strconv.ParseUint(f[3], 10, 64)
	stamp, err3 := strconv.ParseInt(f[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || pair < 0 || stamp < 0 {
		return marker{}, false
	}
	return marker{run: f[0], pair: pair, side: f[2][0], seq: seq, stamp: time.Duration(stamp)}, true
}

// findMarker returns the first marker in a message body.
func findMarker(body string) (marker, bool) {
	i := strings.Index(body, markerPrefix)
	if i < 0 {
		return marker{}, false
	}
	return parseMarker(body[i:])
}

// scanMarkers calls fn for every complete marker in data and returns how
// many bytes it has finished with; the rest may hold the start of a marker
// that the next read completes.
func scanMarkers(data []byte, fn func(marker)) int {
	pos := 0
	for {
		i := bytes.Index(data[pos:], []byte(markerPrefix))
		if i < 0 {
			// Keep a tail that could be the start of the prefix.
			return max(pos, len(data)-(len(markerPrefix)-1))
		}
		start := pos + i
		end := bytes.IndexByte(data[start:], '}')
		switch {
		case end < 0 && len(data)-start <= maxMarker+len(markerPrefix):
			return start // perhaps completed by the next read
		case end < 0 || end > maxMarker+len(markerPrefix):
			pos = start + len(markerPrefix) // not a marker: look further
			continue
		}
		if m, ok := parseMarker(string(data[start : start+end+1])); ok {
			fn(m)
			pos = start + end + 1
		} else {
			pos = start + len(markerPrefix)
		}
	}
}
