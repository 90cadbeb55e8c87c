package jid_test

import (
	"errors"
	"fmt"

	"roost/jid"
)

func ExampleParse() {
	j, err := jid.Parse("Juliet@xn--bcher-kva.example./Balcony")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(j)
	fmt.Println(j.Local(), j.Domain(), j.Resource())
	fmt.Println(j.Bare(), j.DomainJID(), j.Bare().IsBare())
	// Output:
	// juliet@bücher.example/Balcony
	// juliet bücher.example Balcony
	// juliet@bücher.example bücher.example true
}

func ExampleParse_error() {
	_, err := jid.Parse(`"juliet"@example.com`)
	fmt.Println(err)
	fmt.Println(errors.Is(err, jid.ErrInvalidLocal))
	// Output:
	// parse jid: invalid localpart: forbidden character '"'
	// true
}

func ExampleJID_Equal() {
	a := jid.MustParse("ΣΑΣ@example.com")
	b := jid.MustParse("σασ@EXAMPLE.COM.")
	fmt.Println(a, a.Equal(b), a == b)
	// Output:
	// σασ@example.com true true
}
