package store

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBlobs(t *testing.T) {
	s, _ := openTest(t, testOptions())
	type kv struct{ K, V string }
	list := func(prefix string) []kv {
		out := []kv{}
		must(t, s.Blobs(prefix, func(k string, v []byte) error { out = append(out, kv{k, string(v)}); return nil }))
		return out
	}
	must(t, s.PutBlob("acme/example.org", []byte("cert")))
	must(t, s.PutBlob("acme/account+key", []byte("key")))
	must(t, s.PutBlob("secret/dialback", []byte("s3cret")))
	must(t, s.PutBlob("acme/empty", nil))
	tests := []struct {
		name   string
		prefix string
		want   []kv
	}{
		{"all", "", []kv{{"acme/account+key", "key"}, {"acme/empty", ""}, {"acme/example.org", "cert"}, {"secret/dialback", "s3cret"}}},
		{"prefix", "acme/", []kv{{"acme/account+key", "key"}, {"acme/empty", ""}, {"acme/example.org", "cert"}}},
		{"exact key as prefix", "secret/dialback", []kv{{"secret/dialback", "s3cret"}}},
		{"no match", "zzz", []kv{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, list(tt.prefix)); diff != "" {
				t.Errorf("Blobs(%q) mismatch (-want +got):\n%s", tt.prefix, diff)
			}
		})
	}
	v, found, err := s.Blob("acme/empty")
	if err != nil || !found || v == nil || len(v) != 0 {
		t.Errorf("Blob(acme/empty) = %q (nil %t), %t, %v; want empty and found", v, v == nil, found, err)
	}
	must(t, s.DeleteBlob("acme/example.org"))
	must(t, s.DeleteBlob("acme/example.org"))
	if v, found, err := s.Blob("acme/example.org"); found || err != nil {
		t.Errorf("Blob after delete = %q, %t, %v; want not found", v, found, err)
	}
}
