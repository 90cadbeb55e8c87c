package dialback

import (
	"strings"
	"testing"
)

// The worked examples of XEP-0185 §3 and XEP-0220 §2.1.1 and §2.2.2.
func TestKeyVectors(t *testing.T) {
	tests := []struct {
		name                             string
		secret                           string
		receiving, originating, streamID string
		want                             string
	}{
		{"XEP-0185 example", "s3cr3tf0rd14lb4ck", "xmpp.example.com", "example.org", "D60000229F",
			"37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643"},
		{"XEP-0220 example 1", "s3cr3tf0rd14lb4ck", "montague.example", "capulet.example", "D60000229F",
			"b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3"},
		{"XEP-0220 example 34", "d14lb4ck43v3r", "capulet.example", "montague.example", "417GAF25",
			"225cc5aa6a071133249d25fef42ae516fc7a86c523aa1c6980a7f73e784c972d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := NewKeyer([]byte(tc.secret))
			if got := k.Key(tc.receiving, tc.originating, tc.streamID); got != tc.want {
				t.Errorf("Key = %s, want %s", got, tc.want)
			}
			if !k.Check(tc.receiving, tc.originating, tc.streamID, tc.want) {
				t.Error("Check refuses the right key")
			}
		})
	}
}

func TestKeyCheck(t *testing.T) {
	k := NewKeyer([]byte("secret"))
	key := k.Key("b.example", "a.example", "id1")
	tests := []struct {
		name                             string
		receiving, originating, streamID string
		key                              string
		want                             bool
	}{
		{"right", "b.example", "a.example", "id1", key, true},
		{"upper-case hex", "b.example", "a.example", "id1", strings.ToUpper(key), true},
		{"other stream", "b.example", "a.example", "id2", key, false},
		{"roles swapped", "a.example", "b.example", "id1", key, false},
		{"other receiving server", "c.example", "a.example", "id1", key, false},
		{"concatenation is unambiguous", "b.example a.example", "", "id1", key, false},
		{"one digit off", "b.example", "a.example", "id1", key[:63] + string("01"[(key[63]-'0'+1)%2]), false},
		{"short", "b.example", "a.example", "id1", key[:62], false},
		{"long", "b.example", "a.example", "id1", key + "00", false},
		{"not hex", "b.example", "a.example", "id1", strings.Repeat("zz", 32), false},
		{"empty", "b.example", "a.example", "id1", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := k.Check(tc.receiving, tc.originating, tc.streamID, tc.key); got != tc.want {
				t.Errorf("Check = %v, want %v", got, tc.want)
			}
		})
	}
	if other := NewKeyer([]byte("other secret")); other.Check("b.example", "a.example", "id1", key) {
		t.Error("a key made with another secret is accepted")
	}
}

func BenchmarkKey(b *testing.B) {
	k := NewKeyer([]byte("0123456789abcdef0123456789abcdef"))
	b.ReportAllocs()
	for b.Loop() {
		k.Key("b.example", "a.example", "Vn3Hq0nJ8y6iB7pGn0Hb3w")
	}
}

func BenchmarkCheck(b *testing.B) {
	k := NewKeyer([]byte("0123456789abcdef0123456789abcdef"))
	key := k.Key("b.example", "a.example", "Vn3Hq0nJ8y6iB7pGn0Hb3w")
	b.ReportAllocs()
	for b.Loop() {
		k.Check("b.example", "a.example", "Vn3Hq0nJ8y6iB7pGn0Hb3w", key)
	}
}
