package sasl

import (
	"crypto/sha256"
	"sync"
)

// KeyCache lets SCRAM clients skip PBKDF2 when they log in again: RFC 5802
// §5.1 allows a client to cache the ClientKey and ServerKey it derived from
// a password, salt and iteration count. roost's load tool logs in thousands
// of times with a few passwords, on the machine whose server it measures,
// where every client-side PBKDF2 run would take CPU from that server. Give
// a cache to a [Client] with [Client.SetKeyCache].
//
// The zero value is ready to use, and a KeyCache is safe for concurrent use.
// It keys entries by a SHA-256 digest of the password, never the password,
// but its keys let anyone log in to the server that issued the salts: keep
// it no longer than the passwords themselves.
type KeyCache struct {
	mu sync.Mutex
	m  map[keyCacheID]cachedKeys
}

type keyCacheID struct {
	hash       Hash
	password   [sha256.Size]byte // digest of the prepared password
	salt       string
	iterations int
}

// cachedKeys are shared by every Client that hits the entry: they are only
// ever read.
type cachedKeys struct{ client, server []byte }

// Len returns the number of key sets kc holds.
func (kc *KeyCache) Len() int {
	kc.mu.Lock()
	defer kc.mu.Unlock()
	return len(kc.m)
}

// keys returns ClientKey and ServerKey (RFC 5802 §3) for a prepared
// password, from kc when it has them, else derived and remembered. A nil kc
// derives them every time.
func (kc *KeyCache) keys(h Hash, prepared string, salt []byte, iterations int) (clientKey, serverKey []byte, err error) {
	if kc == nil {
		return deriveKeys(h, prepared, salt, iterations)
	}
	id := keyCacheID{hash: h, password: sha256.Sum256([]byte(prepared)), salt: string(salt), iterations: iterations}
	kc.mu.Lock()
	k, ok := kc.m[id]
	kc.mu.Unlock()
	if ok {
		return k.client, k.server, nil
	}
	// Derived without the lock: two first logins may both derive, which
	// costs time but gives the same keys.
	if k.client, k.server, err = deriveKeys(h, prepared, salt, iterations); err != nil {
		return nil, nil, err
	}
	kc.mu.Lock()
	if kc.m == nil {
		kc.m = make(map[keyCacheID]cachedKeys)
	}
	kc.m[id] = k
	kc.mu.Unlock()
	return k.client, k.server, nil
}

// deriveKeys computes ClientKey and ServerKey from a prepared password
// (RFC 5802 §3).
func deriveKeys(h Hash, prepared string, salt []byte, iterations int) (ck, sk []byte, err error) {
	salted, err := saltedPassword(h, prepared, salt, iterations)
	if err != nil {
		return nil, nil, err
	}
	return clientKey(h, salted), mac(h, salted, "Server Key"), nil
}
