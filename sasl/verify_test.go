package sasl_test

import (
	"testing"

	"roost/sasl"
)

func TestVerify(t *testing.T) {
	c, err := sasl.NewCredentials("pencil-Ⅸ", sasl.SHA256, sasl.MinIterations, nil)
	if err != nil {
		t.Fatal(err)
	}
	c1, err := sasl.NewCredentials("pencil", sasl.SHA1, sasl.MinIterations, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		password string
		c        sasl.Credentials
		want     bool
		wantErr  bool
	}{
		{"right", "pencil-Ⅸ", c, true, false},
		{"wrong", "pencil-X", c, false, false},
		{"empty", "", c, false, false},
		{"sha-1", "pencil", c1, true, false},
		{"garbage credentials", "pencil", sasl.Credentials{Hash: sasl.SHA256, Salt: []byte("s"), Iterations: 1}, false, true},
	}
	for _, tc := range tests {
		got, err := sasl.Verify(tc.password, tc.c)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: Verify = %v, %v; want %v, error %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}
