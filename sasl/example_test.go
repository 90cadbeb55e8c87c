package sasl_test

import (
	"context"
	"fmt"

	"roost/sasl"
)

// A c2s stream authenticating a client with SCRAM-SHA-256. The client side
// stands in for the peer; the caller moves the bytes in base64 inside
// <auth/>, <challenge/>, <response/> and <success/>.
func Example() {
	cred, err := sasl.NewCredentials("r0m30myr0m30", sasl.SHA256, sasl.DefaultIterations, nil)
	if err != nil {
		panic(err)
	}
	opts := sasl.ServerOptions{
		Lookup: func(_ context.Context, user string, h sasl.Hash) (sasl.Credentials, bool, error) {
			return cred, user == "juliet" && h == sasl.SHA256, nil
		},
		Secret: []byte("a stable secret of 16 bytes or more"),
	}
	fmt.Println(sasl.Mechanisms(sasl.ChannelBinding{}, false))

	ctx := context.Background()
	client, _ := sasl.NewClient(sasl.SCRAMSHA256, "Juliet", "r0m30myr0m30", sasl.ChannelBinding{})
	server, err := sasl.NewServer(sasl.SCRAMSHA256, opts)
	if err != nil {
		panic(err)
	}
	auth, _ := client.Step(nil)                      // <auth mechanism='SCRAM-SHA-256'>
	challenge, _, _ := server.Step(ctx, auth)        // <challenge>
	response, _ := client.Step(challenge)            // <response>
	success, done, err := server.Step(ctx, response) // <success>
	fmt.Println(done, err, server.Username())
	_, err = client.Step(success)
	fmt.Println(err, client.Verified())
	// Output:
	// [SCRAM-SHA-256 SCRAM-SHA-1]
	// true <nil> juliet
	// <nil> true
}
