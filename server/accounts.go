package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"roost/jid"
	"roost/sasl"
	"roost/store"
)

// Account errors.
var (
	ErrNoSuchUser   = errors.New("no such user")
	ErrUserExists   = errors.New("user already exists")
	ErrBadUser      = errors.New("invalid user name")
	ErrWeakPassword = errors.New("password too short: use at least 6 characters")
)

// minPassword is the shortest password accepted.
const minPassword = 6

// Accounts manages user accounts over the store and caches which exist,
// because the router asks on every stanza to a local user.
type Accounts struct {
	st      *store.Store
	domains []string
	// onDelete is told when an account goes away, to end its sessions.
	onDelete func(jid.JID)
	// onPasswordChange is told when an account's password changes, to
	// end its sessions but keep (none when zero).
	onPasswordChange func(j, keep jid.JID)

	mu    sync.RWMutex
	known map[string]struct{}
}

// NewAccounts returns an account manager for the hosted domains; the first
// domain is the default for bare user names.
func NewAccounts(st *store.Store, domains []string) (*Accounts, error) {
	a := &Accounts{st: st, domains: domains, known: make(map[string]struct{})}
	err := st.Accounts(func(u string) error {
		a.known[u] = struct{}{}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load accounts: %w", err)
	}
	return a, nil
}

// Resolve turns "alice" or "alice@example.org" into the account's bare JID.
func (a *Accounts) Resolve(user string) (jid.JID, error) {
	if !strings.Contains(user, "@") && len(a.domains) > 0 {
		user += "@" + a.domains[0]
	}
	j, err := jid.Parse(user)
	if err != nil || j.Local() == "" || j.Resource() != "" {
		return jid.JID{}, fmt.Errorf("%w: %q (want name@domain)", ErrBadUser, user)
	}
	for _, d := range a.domains {
		if d == j.Domain() {
			return j, nil
		}
	}
	return jid.JID{}, fmt.Errorf("%w: this server does not host %s", ErrBadUser, j.Domain())
}

func credentials(password string) (map[string]store.SCRAMKeys, error) {
	if len([]rune(password)) < minPassword {
		return nil, ErrWeakPassword
	}
	keys := make(map[string]store.SCRAMKeys, 2)
	for _, h := range []sasl.Hash{sasl.SHA1, sasl.SHA256} {
		c, err := sasl.NewCredentials(password, h, sasl.DefaultIterations, rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("derive credentials: %w", err)
		}
		keys[string(h)] = store.SCRAMKeys{Salt: c.Salt, Iterations: c.Iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey}
	}
	return keys, nil
}

// resolveWithKeys resolves user to an account JID and derives the SCRAM
// keys of password for it.
func (a *Accounts) resolveWithKeys(user, password string) (jid.JID, map[string]store.SCRAMKeys, error) {
	j, err := a.Resolve(user)
	if err != nil {
		return jid.JID{}, nil, err
	}
	keys, err := credentials(password)
	return j, keys, err
}

// AddUser creates an account. A taken name is ErrUserExists whatever the
// password, checked before the password policy and before the costly key
// derivation: in-band registration answers conflict first (XEP-0077 §3).
func (a *Accounts) AddUser(_ context.Context, user, password string) error {
	j, err := a.Resolve(user)
	if err != nil {
		return err
	}
	a.mu.RLock()
	_, taken := a.known[j.String()]
	a.mu.RUnlock()
	if taken {
		return fmt.Errorf("%w: %s", ErrUserExists, j)
	}
	keys, err := credentials(password)
	if err != nil {
		return err
	}
	err = a.st.CreateAccount(store.Account{Username: j.String(), Created: time.Now().UTC(), SCRAM: keys})
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("%w: %s", ErrUserExists, j)
	}
	if err != nil {
		return fmt.Errorf("create account: %w", err)
	}
	a.mu.Lock()
	a.known[j.String()] = struct{}{}
	a.mu.Unlock()
	return nil
}

// DeleteUser removes an account and everything stored for it.
func (a *Accounts) DeleteUser(_ context.Context, user string) error {
	j, err := a.Resolve(user)
	if err != nil {
		return err
	}
	existed, err := a.st.DeleteAccount(j.String())
	if err != nil {
		return fmt.Errorf("delete account: %w", err)
	}
	if !existed {
		return fmt.Errorf("%w: %s", ErrNoSuchUser, j)
	}
	a.mu.Lock()
	delete(a.known, j.String())
	a.mu.Unlock()
	if a.onDelete != nil {
		a.onDelete(j)
	}
	return nil
}

// SetPassword replaces an account's credentials and ends its sessions.
func (a *Accounts) SetPassword(ctx context.Context, user, password string) error {
	return a.ChangePassword(ctx, user, password, jid.JID{})
}

// ChangePassword replaces an account's credentials and ends its sessions
// but keep, the session that changed it in-band: whoever logged in with
// the old password, a lost phone or a thief, is out at once.
func (a *Accounts) ChangePassword(_ context.Context, user, password string, keep jid.JID) error {
	j, keys, err := a.resolveWithKeys(user, password)
	if err != nil {
		return err
	}
	err = a.st.SetCredentials(j.String(), keys)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNoSuchUser, j)
	}
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if a.onPasswordChange != nil {
		a.onPasswordChange(j, keep)
	}
	return nil
}

// SetAdmin gives an account the admin role (the web console, ad-hoc
// admin commands, inviting people to make accounts) or takes it away.
func (a *Accounts) SetAdmin(_ context.Context, user string, admin bool) error {
	j, err := a.Resolve(user)
	if err != nil {
		return err
	}
	err = a.st.SetAdmin(j.String(), admin)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNoSuchUser, j)
	}
	return err
}

// IsAdmin reports whether an account has the admin role.
func (a *Accounts) IsAdmin(_ context.Context, user string) (bool, error) {
	j, err := a.Resolve(user)
	if err != nil {
		return false, err
	}
	return a.st.IsAdmin(j.String())
}

// Admins lists the accounts with the admin role, sorted.
func (a *Accounts) Admins(context.Context) ([]string, error) {
	var out []string
	err := a.st.Admins(func(u string) error {
		out = append(out, u)
		return nil
	})
	return out, err
}

// Users lists the accounts, sorted.
func (a *Accounts) Users(context.Context) ([]string, error) {
	var out []string
	err := a.st.Accounts(func(u string) error {
		out = append(out, u)
		return nil
	})
	return out, err
}

// AccountExists implements router.Accounts.
func (a *Accounts) AccountExists(_ context.Context, bare jid.JID) (bool, error) {
	a.mu.RLock()
	_, ok := a.known[bare.String()]
	a.mu.RUnlock()
	return ok, nil
}

// SCRAMCredentials implements c2s.Credentials.
func (a *Accounts) SCRAMCredentials(_ context.Context, bare jid.JID, h sasl.Hash) (sasl.Credentials, bool, error) {
	acct, found, err := a.st.Account(bare.String())
	if err != nil || !found {
		return sasl.Credentials{}, false, err
	}
	k, ok := acct.SCRAM[string(h)]
	if !ok {
		return sasl.Credentials{}, false, nil
	}
	return sasl.Credentials{Hash: h, Salt: k.Salt, Iterations: k.Iterations, StoredKey: k.StoredKey, ServerKey: k.ServerKey}, true, nil
}
