package jid

import "testing"

// b.Loop keeps the calls in its body, and their results, alive, so no sink
// variable is needed.

func BenchmarkParse(b *testing.B) {
	benchmarks := []struct {
		name string
		in   string
	}{
		{"ascii canonical full", "alice@example.org/phone"},
		{"ascii canonical domain", "example.org"},
		{"ascii lowercase needed", "Alice@Example.ORG/phone"},
		{"ascii trailing dot", "alice@example.org./phone"},
		{"unicode canonical", "jürgen@bücher.example/Télé"},
		{"unicode mapping", "ＪÜＲＧＥＮ@Bücher.Example/Te\u0301le\u0301"},
		{"a-label", "alice@xn--bcher-kva.example/phone"},
		{"ipv6", "alice@[2001:db8::1]/phone"},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(bm.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseDomain(b *testing.B) {
	for _, in := range []string{"example.org", "Example.ORG.", "bücher.example"} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseDomain(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBare(b *testing.B) {
	j := MustParse("alice@example.org/phone")
	b.ReportAllocs()
	for b.Loop() {
		j.Bare()
	}
}

func BenchmarkEqual(b *testing.B) {
	x := MustParse("alice@example.org/phone")
	y := MustParse("alice@example.org/phonf")
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if x.Equal(y) {
			n++
		}
	}
	if n != 0 {
		b.Fatalf("Equal of different JIDs reported true %d times", n)
	}
}

func BenchmarkString(b *testing.B) {
	j := MustParse("alice@example.org/phone")
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n += len(j.String())
	}
	if n == 0 {
		b.Fatal("String returned empty text")
	}
}

func BenchmarkWithResource(b *testing.B) {
	j := MustParse("alice@example.org")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := j.WithResource("phone"); err != nil {
			b.Fatal(err)
		}
	}
}
