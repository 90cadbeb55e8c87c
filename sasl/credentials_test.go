package sasl_test

import (
	"bytes"
	"errors"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"roost/sasl"
)

func TestNewCredentials(t *testing.T) {
	salt := bytes.Repeat([]byte{3}, sasl.SaltLen)
	tests := []struct {
		name     string
		password string
		h        sasl.Hash
		keyLen   int
	}{
		{"SHA-1", "pencil", sasl.SHA1, 20},
		{"SHA-256", "pencil", sasl.SHA256, 32},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := sasl.NewCredentials(tc.password, tc.h, sasl.MinIterations, bytes.NewReader(salt))
			if err != nil {
				t.Fatal(err)
			}
			if c.Hash != tc.h || c.Iterations != sasl.MinIterations || !bytes.Equal(c.Salt, salt) {
				t.Errorf("got hash %q, iterations %d, salt %x; want %q, %d, %x", c.Hash, c.Iterations, c.Salt, tc.h, sasl.MinIterations, salt)
			}
			if len(c.StoredKey) != tc.keyLen || len(c.ServerKey) != tc.keyLen {
				t.Errorf("key sizes %d, %d; want %d", len(c.StoredKey), len(c.ServerKey), tc.keyLen)
			}
			if bytes.Equal(c.StoredKey, c.ServerKey) {
				t.Error("StoredKey equals ServerKey")
			}
		})
	}
}

// TestNewCredentialsPrepares checks that OpaqueString maps non-ASCII
// spaces to ASCII space before hashing (RFC 8265 §4.2.1).
func TestNewCredentialsPrepares(t *testing.T) {
	salt := bytes.Repeat([]byte{9}, sasl.SaltLen)
	a, err := sasl.NewCredentials("pass\u00a0word", sasl.SHA256, sasl.MinIterations, bytes.NewReader(salt))
	if err != nil {
		t.Fatal(err)
	}
	b, err := sasl.NewCredentials("pass word", sasl.SHA256, sasl.MinIterations, bytes.NewReader(salt))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(a, b); d != "" {
		t.Errorf("NBSP and space give different credentials (-nbsp +space):\n%s", d)
	}
	c, err := sasl.NewCredentials("Pass word", sasl.SHA256, sasl.MinIterations, bytes.NewReader(salt))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.StoredKey, c.StoredKey) {
		t.Error("passwords differing in case give the same StoredKey")
	}
}

func TestNewCredentialsErrors(t *testing.T) {
	tests := []struct {
		name       string
		password   string
		h          sasl.Hash
		iterations int
		want       error
	}{
		{"unknown hash", "pw", "MD5", sasl.MinIterations, sasl.ErrHash},
		{"too few iterations", "pw", sasl.SHA256, sasl.MinIterations - 1, sasl.ErrIterations},
		{"too many iterations", "pw", sasl.SHA256, sasl.MaxIterations + 1, sasl.ErrIterations},
		{"empty password", "", sasl.SHA256, sasl.MinIterations, sasl.ErrPassword},
		{"NUL in password", "a\x00", sasl.SHA256, sasl.MinIterations, sasl.ErrPassword},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := sasl.NewCredentials(tc.password, tc.h, tc.iterations, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("NewCredentials = %+v, %v; want %v", c, err, tc.want)
			}
		})
	}
	errRand := errors.New("no entropy")
	if _, err := sasl.NewCredentials("pw", sasl.SHA256, sasl.MinIterations, iotest.ErrReader(errRand)); !errors.Is(err, errRand) {
		t.Errorf("NewCredentials with failing rand = %v, want %v", err, errRand)
	}
}

func TestCredentialsCheck(t *testing.T) {
	good, err := sasl.NewCredentials("pencil", sasl.SHA256, sasl.MinIterations, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := good.Check(); err != nil {
		t.Errorf("fresh credentials: %v", err)
	}
	for name, c := range map[string]sasl.Credentials{
		"unknown hash":   {Hash: "SHA-512", Salt: []byte("s"), Iterations: 4096, StoredKey: make([]byte, 64), ServerKey: make([]byte, 64)},
		"short key":      {Hash: sasl.SHA1, Salt: []byte("s"), Iterations: 4096, StoredKey: make([]byte, 19), ServerKey: make([]byte, 20)},
		"few iterations": {Hash: sasl.SHA1, Salt: []byte("s"), Iterations: 1000, StoredKey: make([]byte, 20), ServerKey: make([]byte, 20)},
		"no salt":        {Hash: sasl.SHA1, Iterations: 4096, StoredKey: make([]byte, 20), ServerKey: make([]byte, 20)},
	} {
		if err := c.Check(); !errors.Is(err, sasl.ErrCredentials) {
			t.Errorf("%s: Check() = %v, want sasl.ErrCredentials", name, err)
		}
	}
	if !sasl.SHA1.Supported() || !sasl.SHA256.Supported() || sasl.Hash("SHA-512").Supported() {
		t.Error("Supported is wrong")
	}
}
