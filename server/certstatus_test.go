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
			"rooms.example.org", "upload.example.org", "rooms.example.net", "upload.example.net"}},
		{"file sharing off", func(c *config.Config) { c.Upload.Enabled = false }, []string{
			"conference.example.org", "conference.example.net"}},
		{"upload also listed, as older files did", func(c *config.Config) { c.Subdomains = []string{"upload", "extra"} }, []string{
			"conference.example.org", "upload.example.org", "extra.example.org",
			"conference.example.net", "upload.example.net", "extra.example.net"}},
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
