package server

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"roost/admin"
)

func (s *Server) setupAdmin() error {
	ln, err := admin.Listen(s.cfg.Admin.Socket, s.cfg.Admin.Group)
	if err != nil {
		return err
	}
	path := s.cfg.Admin.Socket
	s.closers = append(s.closers, func() {
		_ = ln.Close()
		_ = os.Remove(path)
	})
	s.jobs = append(s.jobs, job{"admin", func(ctx context.Context) error {
		ops := &AdminOps{accounts: s.accounts, invites: s.invites}
		return admin.Serve(ctx, ln, backend{s, ops}, s.log.With("component", "admin"))
	}})
	return nil
}

// backend is the admin backend of a running server.
type backend struct {
	s *Server
	*AdminOps
}

func (b backend) AddUser(ctx context.Context, u, p string) error {
	return b.s.accounts.AddUser(ctx, u, p)
}
func (b backend) DeleteUser(ctx context.Context, u string) error {
	return b.s.accounts.DeleteUser(ctx, u)
}
func (b backend) SetPassword(ctx context.Context, u, p string) error {
	return b.s.accounts.SetPassword(ctx, u, p)
}
func (b backend) Users(ctx context.Context) ([]string, error) { return b.s.accounts.Users(ctx) }

func (b backend) Status(context.Context) (map[string]string, error) {
	return map[string]string{
		"version":     b.s.opts.Version,
		"domains":     fmt.Sprint(b.s.cfg.Domains),
		"uptime":      time.Since(b.s.started).Round(time.Second).String(),
		"sessions":    strconv.Itoa(b.s.router.SessionCount()),
		"connections": strconv.Itoa(b.s.c2s.ConnCount()),
	}, nil
}

func (b backend) Backup(_ context.Context, w io.Writer, size func(int64) error) error {
	if b.s.upload != nil {
		defer b.s.upload.HoldFiles()()
	}
	return writeBackup(b.s.store, b.s.cfg.DataDir, w, size)
}

// CertStatus reports the certificates served now (certs.Manager.Status).
func (b backend) CertStatus(context.Context) ([]admin.CertStatus, error) {
	return adminCertStatus(b.s.certs.Status()), nil
}

func (b backend) Rooms(ctx context.Context) ([]admin.RoomStatus, error) {
	r, err := b.s.roomAdmin()
	if err != nil {
		return nil, err
	}
	return r.Rooms(ctx)
}

func (b backend) RoomInfo(ctx context.Context, room string) (admin.RoomStatus, error) {
	r, err := b.s.roomAdmin()
	if err != nil {
		return admin.RoomStatus{}, err
	}
	return r.RoomInfo(ctx, room)
}

func (b backend) CreateRoom(ctx context.Context, room, owner, name string) error {
	r, err := b.s.roomAdmin()
	if err != nil {
		return err
	}
	return r.CreateRoom(ctx, room, owner, name)
}

func (b backend) DestroyRoom(ctx context.Context, room, reason string) error {
	r, err := b.s.roomAdmin()
	if err != nil {
		return err
	}
	return r.DestroyRoom(ctx, room, reason)
}

// Features reports what clients see: the stream features c2s offers after
// authentication and the service discovery the modules declared, which
// module/disco answers from the same catalog.
func (b backend) Features(context.Context) (admin.Features, error) {
	cat := b.s.modules.Catalog()
	f := admin.Features{Domain: b.s.cfg.Domains[0], Server: cat.Server.Features, Account: cat.Account.Features}
	for _, id := range cat.Account.Identities {
		f.AccountIdentities = append(f.AccountIdentities, id.Category+"/"+id.Type)
	}
	for el := range b.s.c2s.BoundFeatures().Elements() {
		f.Stream = append(f.Stream, "{"+el.Name.Space+"}"+el.Name.Local)
	}
	for _, svc := range cat.ServicesOf(f.Domain) {
		as := admin.Service{Domain: svc.Domain, Features: svc.Info.Features}
		for _, id := range svc.Info.Identities {
			as.Identities = append(as.Identities, id.Category+"/"+id.Type)
		}
		f.Services = append(f.Services, as)
	}
	return f, nil
}
