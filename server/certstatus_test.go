package server

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"roost/config"
)

// TestServiceNames: the service domains, which the certificates name and
// s2s federates, follow the features the configuration enables.
func TestServiceNames(t *testing.T) {
	tests := []struct {
		name string
		edit func(*config.Config)
		want []string
	}{
		{"defaults", func(*config.Config) {}, []string{
			"conference.example.org", "upload.example.org", "conference.example.net", "upload.example.net"}},
		{"group chat off", func(c *config.Config) { c.MUC.Enabled = false }, []string{
			"upload.example.org", "upload.example.net"}},
		{"group chat elsewhere", func(c *config.Config) { c.MUC.Subdomain = "rooms"; c.Subdomains = nil }, []string{
			"rooms.example.org", "rooms.example.net"}},
	}
	for _, tt := range tests {
		cfg := config.Default()
		cfg.Domains = []string{"example.org", "example.net"}
		tt.edit(&cfg)
		if diff := cmp.Diff(tt.want, serviceNames(cfg)); diff != "" {
			t.Errorf("%s: serviceNames (-want +got):\n%s", tt.name, diff)
		}
		if got := certOptions(cfg).Subdomains; !cmp.Equal(got, tt.want) {
			t.Errorf("%s: certificates name %v, want %v", tt.name, got, tt.want)
		}
	}
}
