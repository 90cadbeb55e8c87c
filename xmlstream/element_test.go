package xmlstream

import "testing"

func TestHasContent(t *testing.T) {
	tests := []struct {
		xml  string
		want bool
	}{
		{`<a/>`, false},
		{`<a x='1'/>`, false},
		{"<a>  \n\t </a>", false},
		{`<a>text</a>`, true},
		{`<a><b/></a>`, true},
		{`<a> <b/> </a>`, true},
	}
	for _, tt := range tests {
		el, err := ParseStored([]byte(tt.xml))
		if err != nil {
			t.Fatalf("%s: %v", tt.xml, err)
		}
		if got := el.HasContent(); got != tt.want {
			t.Errorf("HasContent(%s) = %t, want %t", tt.xml, got, tt.want)
		}
	}
}
