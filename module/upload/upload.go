package upload

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"roost/discoinfo"
	"roost/form"
	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// Errors.
var (
	// ErrGone: the record of a slot is gone (it lapsed, or its owner was
	// deleted). Store.Complete wraps it.
	ErrGone = errors.New("upload: slot gone")
	// ErrQuota: a reservation would exceed a quota. Store.Reserve returns
	// a *QuotaError, which wraps it.
	ErrQuota = errors.New("upload: quota exceeded")
)

// QuotaError says which quota a reservation would exceed.
type QuotaError struct {
	// Total is the server's quota; otherwise the owner's.
	Total       bool
	Used, Limit int64
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("%v: %d of %d bytes used", ErrQuota, e.Used, e.Limit)
}

// Unwrap makes errors.Is(err, ErrQuota) true.
func (e *QuotaError) Unwrap() error { return ErrQuota }

// File is the record of a slot and, once its body is stored, of a file.
// Its fields are those of store.Upload, so that the server converts one
// into the other.
type File struct {
	ID string
	// Owner is the bare JID of the account that requested the slot.
	Owner string
	// Name is the file name the slot was requested for; Type the declared
	// media type, "" when none was.
	Name, Type string
	Size       int64
	Created    time.Time
	// Expires is when a pending slot lapses, or when a complete file is
	// deleted.
	Expires  time.Time
	Complete bool
}

// Store keeps the records; the server adapts *store.Store to it.
type Store interface {
	// Reserve records the pending slot f if f.Size fits the owner's
	// quota and the total (0: no limit); else a *QuotaError.
	Reserve(f File, userQuota, totalQuota int64) error
	File(id string) (File, bool, error)
	// Complete marks a pending slot complete, to expire at expires; an
	// error wrapping ErrGone when the record is gone.
	Complete(id string, expires time.Time) error
	Delete(id string) error
	// Expired lists up to limit records due at now, soonest first.
	Expired(now time.Time, limit int) ([]File, error)
	// Exists reports whether a record of id exists, and whether it is
	// complete.
	Exists(id string) (exists, complete bool, err error)
}

// Defaults of Options.
const (
	DefaultMaxFileSize     = 100 << 20
	DefaultExpireAfter     = 365 * 24 * time.Hour
	DefaultSlotTimeout     = 5 * time.Minute
	DefaultMaxConcurrent   = 3
	DefaultTransferTimeout = 30 * time.Second
)

// sweepInterval is how often lapsed slots and expired files are deleted.
const sweepInterval = 10 * time.Minute

// Options configure a Module.
type Options struct {
	// Domains are the account domains; each gets the service
	// upload.<domain>, which only their accounts may use.
	Domains []string
	// BaseURL is the start of links, "https://host[:port][/path]", for the
	// service of each domain. Required for every domain.
	BaseURL map[string]string
	Store   Store
	// Dir holds the bodies (the data directory's DirName). New creates it.
	Dir string
	// Secret keys the PUT tokens; at least 32 bytes, kept across restarts.
	Secret []byte
	// MaxFileSize bounds one file (default DefaultMaxFileSize).
	MaxFileSize int64
	// UserQuota and TotalQuota bound the bytes of an owner's files and of
	// all files; 0 is no limit. KeepFree refuses a slot that would leave
	// less free space on Dir's file system.
	UserQuota, TotalQuota, KeepFree int64
	// ExpireAfter is how long a file is kept (default DefaultExpireAfter).
	ExpireAfter time.Duration
	// SlotTimeout is how long a slot waits for its PUT (default
	// DefaultSlotTimeout).
	SlotTimeout time.Duration
	// MaxConcurrent bounds an owner's simultaneous PUTs (default
	// DefaultMaxConcurrent).
	MaxConcurrent int
	// TransferTimeout and MinRate pace transfers (see pacer); 0 MinRate
	// checks only the timeout. Default DefaultTransferTimeout.
	TransferTimeout time.Duration
	MinRate         int64
	// Now is the clock of slots and expiry (default time.Now); Rand makes
	// slot IDs (default crypto/rand.Reader).
	Now    func() time.Time
	Rand   io.Reader
	Logger *slog.Logger

	// fs replaces the directory in tests.
	fs fileSystem
}

// Module is the upload service. It is safe for concurrent use.
type Module struct {
	domains         []string
	base            map[string]string
	store           Store
	fs              fileSystem
	secret          []byte
	maxFileSize     int64
	userQuota       int64
	totalQuota      int64
	keepFree        int64
	expireAfter     time.Duration
	slotTimeout     time.Duration
	maxConcurrent   int
	transferTimeout time.Duration
	minRate         int64
	now             func() time.Time
	rand            io.Reader
	log             *slog.Logger

	active active
	// files is held for reading by backups and for writing by the
	// sweeper while it deletes bodies, so that a backup sees a fixed set
	// of files.
	files sync.RWMutex
	// kick asks the sweeper for a pass now (an account was deleted).
	kick chan struct{}
}

// New returns the module, creating Dir.
func New(o Options) (*Module, error) {
	if len(o.Secret) < 32 {
		return nil, errors.New("upload: the secret needs 32 bytes or more")
	}
	for _, d := range o.Domains {
		if o.BaseURL[d] == "" {
			return nil, fmt.Errorf("upload: no base URL for %s", d)
		}
	}
	m := &Module{
		domains: slices.Clone(o.Domains), base: o.BaseURL, store: o.Store, fs: o.fs, secret: o.Secret,
		maxFileSize: o.MaxFileSize, userQuota: o.UserQuota, totalQuota: o.TotalQuota, keepFree: o.KeepFree,
		expireAfter: o.ExpireAfter, slotTimeout: o.SlotTimeout, maxConcurrent: o.MaxConcurrent,
		transferTimeout: o.TransferTimeout, minRate: o.MinRate,
		now: o.Now, rand: o.Rand, log: o.Logger,
		kick: make(chan struct{}, 1),
	}
	if m.fs == nil {
		if err := os.MkdirAll(o.Dir, 0o750); err != nil {
			return nil, fmt.Errorf("upload: create %s: %w", o.Dir, err)
		}
		m.fs = diskFS{o.Dir}
	}
	m.maxFileSize = cmp.Or(max(m.maxFileSize, 0), DefaultMaxFileSize)
	m.expireAfter = cmp.Or(max(m.expireAfter, 0), DefaultExpireAfter)
	m.slotTimeout = cmp.Or(max(m.slotTimeout, 0), DefaultSlotTimeout)
	m.maxConcurrent = cmp.Or(max(m.maxConcurrent, 0), DefaultMaxConcurrent)
	m.transferTimeout = cmp.Or(max(m.transferTimeout, 0), DefaultTransferTimeout)
	if m.now == nil {
		m.now = time.Now
	}
	if m.rand == nil {
		m.rand = rand.Reader
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	return m, nil
}

// Name implements module.Module.
func (m *Module) Name() string { return "upload" }

// Register implements module.Module: a service upload.<domain> per account
// domain, the HTTP route of its files, the sweeper, and a hook on account
// deletion.
func (m *Module) Register(r *module.Registry) {
	info := discoinfo.Info{
		Identities: []discoinfo.Identity{{Category: "store", Type: "file", Name: "HTTP File Upload"}},
		Features:   []string{NS},
		// XEP-0363 §3: the size limit, so that clients need not ask for
		// a slot to learn it.
		Forms: []*form.Form{form.New(form.TypeResult, NS).Add(form.Field{
			Var: "max-file-size", Type: form.TextSingle, Values: []string{strconv.FormatInt(m.maxFileSize, 10)},
		})},
	}
	for _, d := range m.domains {
		r.Service(module.Service{
			Domain:  ServiceDomain(d),
			Parent:  d,
			Name:    "HTTP File Upload",
			Info:    info,
			Handler: module.HandlerFunc(m.HandleStanza),
		})
	}
	r.HTTP(Route, m)
	r.Job("sweep", m.runSweeper)
	r.ObserveAccounts(m)
}

// ServiceDomain is the upload service of an account domain.
func ServiceDomain(domain string) string { return "upload." + domain }

// HandleStanza answers slot requests sent to a service domain; other IQ
// gets and sets are service-unavailable, and messages, presence and IQ
// results are dropped.
func (m *Module) HandleStanza(_ context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	if st.Kind != stanza.IQ || (st.Type != stanza.TypeGet && st.Type != stanza.TypeSet) {
		return nil, nil
	}
	payload := st.El.FirstChild()
	bare := st.To.Local() == "" && st.To.Resource() == ""
	if bare && st.Type == stanza.TypeGet && payload.Is(discoinfo.NSItems, "query") && payload.Get("node") == "" {
		return stanza.ResultIQ(st, xmlstream.New(discoinfo.NSItems, "query")), nil // no items
	}
	if !bare || st.Type != stanza.TypeGet || !payload.Is(NS, "request") {
		return nil, stanza.NewError(stanza.ServiceUnavailable, "")
	}
	domain, ok := m.parentOf(st.To.Domain())
	if !ok {
		return nil, stanza.NewError(stanza.ServiceUnavailable, "")
	}
	owner := st.From.Bare()
	if owner.Local() == "" || !slices.Contains(m.domains, owner.Domain()) {
		return nil, &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAllowed,
			Text: "only accounts of this server may upload files here"}
	}
	req, err := parseRequest(payload)
	if err != nil {
		return nil, err
	}
	f, err := m.reserve(owner, req)
	if err != nil {
		return nil, err
	}
	m.log.Debug("upload slot issued", "owner", f.Owner, "bytes", f.Size)
	return stanza.ResultIQ(st, slotElement(link(m.base[domain], f.ID, f.Name), signToken(m.secret, f))), nil
}

// parentOf returns the account domain of a service domain.
func (m *Module) parentOf(service string) (string, bool) {
	for _, d := range m.domains {
		if ServiceDomain(d) == service {
			return d, true
		}
	}
	return "", false
}

// reserve checks a request against the limits and records its slot.
func (m *Module) reserve(owner jid.JID, req request) (File, error) {
	if req.size > m.maxFileSize {
		return File{}, fileTooLarge(m.maxFileSize)
	}
	if m.keepFree > 0 {
		free, err := m.fs.Free()
		if err != nil {
			return File{}, fmt.Errorf("upload: free space: %w", err)
		}
		if free-req.size < m.keepFree {
			m.log.Warn("the disk is nearly full: an upload slot was refused", "free", free, "keep_free", m.keepFree)
			return File{}, stanza.NewError(stanza.ResourceConstraint, "The server's disk is nearly full; try again later or ask its administrator.")
		}
	}
	var raw [16]byte
	if _, err := io.ReadFull(m.rand, raw[:]); err != nil {
		return File{}, fmt.Errorf("upload: make slot ID: %w", err)
	}
	now := m.now()
	f := File{
		ID: base64.RawURLEncoding.EncodeToString(raw[:]), Owner: owner.String(),
		Name: req.name, Type: req.typ, Size: req.size,
		Created: now, Expires: now.Add(m.slotTimeout),
	}
	err := m.store.Reserve(f, m.userQuota, m.totalQuota)
	var qe *QuotaError
	switch {
	case errors.As(err, &qe) && qe.Total:
		m.log.Warn("the upload space is full: an upload slot was refused", "used", qe.Used, "limit", qe.Limit)
		return File{}, stanza.NewError(stanza.ResourceConstraint, fmt.Sprintf(
			"The server's space for files is full (%s); old files are deleted after %s. Ask its administrator.",
			humanBytes(qe.Limit), humanDuration(m.expireAfter)))
	case errors.As(err, &qe):
		return File{}, stanza.NewError(stanza.ResourceConstraint, fmt.Sprintf(
			"Your files take %s of your %s; this one (%s) does not fit. Files are deleted after %s.",
			humanBytes(qe.Used), humanBytes(qe.Limit), humanBytes(req.size), humanDuration(m.expireAfter)))
	case err != nil:
		return File{}, fmt.Errorf("upload: reserve slot: %w", err)
	}
	return f, nil
}

// humanDuration writes d in days or hours: "365 days", "12 hours".
func humanDuration(d time.Duration) string {
	if d >= 48*time.Hour {
		return strconv.Itoa(int(d/(24*time.Hour))) + " days"
	}
	return strconv.Itoa(int(d/time.Hour)) + " hours"
}

// AccountDeleted implements module.AccountObserver. The store deletes the
// account's records with the account; the sweeper then removes the bodies
// left without a record.
func (m *Module) AccountDeleted(context.Context, jid.JID) {
	select {
	case m.kick <- struct{}{}:
	default: // a pass is due already
	}
}

// HoldFiles keeps the sweeper from deleting bodies until release is
// called, so that a backup copies a fixed set of files. Uploads go on.
func (m *Module) HoldFiles() (release func()) {
	m.files.RLock()
	return m.files.RUnlock
}

// active tracks the PUTs in progress: at most one per slot, and a bounded
// number per owner.
type active struct {
	mu      sync.Mutex
	byOwner map[string]int
	slots   map[string]bool
}

// acquire admits a PUT of slot id by owner; status is non-zero when it may
// not start: 409 while another PUT of the slot runs, 429 when the owner
// runs max already.
func (a *active) acquire(owner, id string, limit int) (release func(), status int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.slots[id] {
		return nil, http.StatusConflict
	}
	if a.byOwner[owner] >= limit {
		return nil, http.StatusTooManyRequests
	}
	if a.slots == nil {
		a.slots, a.byOwner = make(map[string]bool), make(map[string]int)
	}
	a.slots[id] = true
	a.byOwner[owner]++
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		delete(a.slots, id)
		if a.byOwner[owner]--; a.byOwner[owner] <= 0 {
			delete(a.byOwner, owner)
		}
	}, 0
}

// busy reports whether a PUT of slot id is in progress.
func (a *active) busy(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.slots[id]
}
