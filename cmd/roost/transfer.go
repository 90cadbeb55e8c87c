package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"roost/admin"
	"roost/config"
	"roost/portable"
	"roost/prosody"
	"roost/server"
	"roost/store"
	"roost/transfer"
)

// cmdExport writes every account to XEP-0227: a directory of one file
// per account (as Prosody's xep0227 driver lays them out), one file when
// the name ends in .xml, standard output for "-".
//
// A running server holds the data file, so the export is taken from a
// backup it makes over the admin socket (store.Backup: one read
// transaction, a consistent snapshot of every account at one moment),
// whose store (server.StoreOfBackup: the uploaded files stream past) is
// written next to the export and removed afterwards. That keeps the
// server's own read transaction as short as a backup's, however long
// the export takes, and needs no new admin operation. A stopped server's
// file is read directly.
func cmdExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	pos, cfg, err := newCommand("export", stderr).load(args, oneArg)
	if err != nil {
		return err
	}
	target := pos[0]
	report := stdout
	if target == "-" {
		report = stderr
	}
	var sum transfer.Summary
	err = withStore(ctx, cfg, scratchDir(target), func(st *store.Store) error {
		sink, finish, err := exportSink(target, stdout)
		if err != nil {
			return err
		}
		sum, err = transfer.Export(st, sink, transfer.ExportOptions{Account: func(r transfer.AccountReport) {
			fmt.Fprintln(report, r)
		}})
		return finish(err)
	})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	for _, n := range sum.Notes {
		fmt.Fprintln(report, n)
	}
	fmt.Fprintf(report, "exported to %s: %s\n", target, sum)
	return nil
}

// scratchDir is where a snapshot of a running server's data is made for
// a command writing to target: next to it, on the disk that will hold
// the export anyway (not /tmp, often in memory on a Pi).
func scratchDir(target string) string {
	switch {
	case target == "-":
		return ""
	case strings.HasSuffix(target, ".xml"):
		return filepath.Dir(target)
	}
	return target
}

// exportSink returns the sink for target and what to call when the
// export ends: a file is written under a temporary name and renamed only
// when complete.
func exportSink(target string, stdout io.Writer) (transfer.Sink, func(error) error, error) {
	switch {
	case target == "-":
		return transfer.NewWriterSink(stdout), func(err error) error { return err }, nil
	case strings.HasSuffix(target, ".xml"):
		f, done, err := createAtomically(target)
		if err != nil {
			return nil, nil, err
		}
		return transfer.NewWriterSink(f), done, nil
	}
	sink, err := transfer.NewDirSink(target)
	return sink, func(err error) error { return err }, err
}

// withStore runs fn on roost's data: the file itself when the server is
// stopped, or a snapshot of it, made in dir (the data directory when
// dir is ""), when it runs.
func withStore(ctx context.Context, cfg config.Config, dir string, fn func(*store.Store) error) error {
	c := admin.Client{Path: cfg.Admin.Socket}
	if !c.Running() {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, server.StoreFile)); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no data yet: %s does not exist", filepath.Join(cfg.DataDir, server.StoreFile))
		}
		st, err := openStore(cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		return fn(st)
	}
	if dir == "" {
		dir = cfg.DataDir
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".roost-snapshot-*.db")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	// The backup holds the uploaded files too: they stream past, only
	// the store is kept.
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(c.Backup(ctx, pw, func(int64) error { return nil }))
	}()
	err = server.StoreOfBackup(pr, f)
	pr.CloseWithError(err) // unblocks the backup if the copy failed
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("snapshot the running server's data: %w", err)
	}
	st, err := store.Open(f.Name(), store.Options{NoSync: true})
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st)
}

// importUsage is the import command's own help.
const importUsage = `Usage:
  roost import DIR|FILE|- [-overwrite] [-dry-run] [-config FILE]
  roost import prosody [DATADIR] [-overwrite] [-dry-run] [-direct] [-config FILE]

DIR|FILE is a XEP-0227 export: roost export's, Prosody's (prosody-migrator
to xep0227) or ejabberd's (ejabberdctl export_piefxis). "prosody" moves a
Prosody on this machine (DATADIR, default /var/lib/prosody), with
prosody-migrator if it is installed, or reading Prosody's files (-direct).
Stop roost first (systemctl stop roost): the import writes its data file.
`

// cmdImport reads accounts into roost's data file. It runs with the
// server stopped: the modules of a running server keep state of the
// accounts they serve in memory (which accounts exist, block lists,
// avatars, archive identifiers), which an import behind their back would
// leave stale, and the move is made once, before the family uses roost.
// A dry run writes nothing and also works while the server runs, on a
// snapshot.
func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := newCommand("import", stderr)
	overwrite := cmd.fs.Bool("overwrite", false, "replace accounts that exist here")
	dry := cmd.fs.Bool("dry-run", false, "read and check everything, write nothing, say what would move")
	direct := cmd.fs.Bool("direct", false, "prosody: read Prosody's files even if prosody-migrator is installed")
	pos, cfg, err := cmd.load(args, func(pos []string) bool {
		return len(pos) == 1 || (len(pos) <= 2 && len(pos) > 0 && pos[0] == "prosody")
	})
	if errors.Is(err, errUsage) {
		fmt.Fprint(stderr, importUsage)
	}
	if err != nil {
		return err
	}
	opts := transfer.ImportOptions{
		Domains:      cfg.Domains,
		RoomServices: roomServices(cfg),
		Overwrite:    *overwrite,
		DryRun:       *dry,
		BatchBytes:   int(cfg.Import.BatchBytes),
		Account:      func(r transfer.AccountReport) { fmt.Fprintln(stdout, r) },
	}
	decode := portable.Options{MaxElementBytes: int64(cfg.Import.MaxElementBytes)}
	var src transfer.Source
	var cleanup func()
	if pos[0] == "prosody" {
		dir := "/var/lib/prosody"
		if len(pos) == 2 {
			dir = pos[1]
		}
		src, cleanup, err = prosodySource(ctx, cfg, dir, *direct, decode, stdout)
		if cleanup != nil {
			defer cleanup()
		}
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
	} else {
		src, err = documentSource(pos[0], decode)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
	}
	if *dry {
		fmt.Fprintln(stdout, "dry run: nothing is written; \"moved\" below means it would move")
	}
	sum, err := runImport(ctx, cfg, src, opts)
	for _, n := range sum.Notes {
		fmt.Fprintln(stdout, n)
	}
	if err != nil {
		return fmt.Errorf("import: %w (the accounts listed as moved are in; run the import again with -overwrite once the problem is fixed)", err)
	}
	fmt.Fprintf(stdout, "import: %s\n", sum)
	if n := sum.Accounts[transfer.Failed] + sum.Accounts[transfer.Exists]; n > 0 && !*dry {
		return fmt.Errorf("import: %d accounts were not imported (see above)", n)
	}
	return nil
}

// roomServices are the domains of the group chat service: none when it
// is off, so that rooms are reported, not stored for nobody.
func roomServices(cfg config.Config) []string {
	if !cfg.MUC.Enabled {
		return nil
	}
	var out []string
	for _, d := range cfg.Domains {
		out = append(out, cfg.MUC.Subdomain+"."+d)
	}
	return out
}

// runImport imports into the data file, or, for a dry run, checks
// against it (or a snapshot of it while the server runs, or nothing when
// there is no data yet).
func runImport(ctx context.Context, cfg config.Config, src transfer.Source, opts transfer.ImportOptions) (transfer.Summary, error) {
	var sum transfer.Summary
	run := func(st *store.Store) (err error) {
		sum, err = transfer.Import(st, src, opts)
		return err
	}
	c := admin.Client{Path: cfg.Admin.Socket}
	switch {
	case opts.DryRun:
		if _, err := os.Stat(filepath.Join(cfg.DataDir, server.StoreFile)); errors.Is(err, os.ErrNotExist) && !c.Running() {
			return sum, run(nil)
		}
		return sum, withStore(ctx, cfg, "", run)
	case c.Running():
		return sum, errors.New("stop the server first (systemctl stop roost): the import writes the data file the running server holds")
	}
	st, err := openStore(cfg)
	if err != nil {
		return sum, err
	}
	err = run(st)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return sum, err
}

// documentSource reads a XEP-0227 export: standard input, a directory or
// a file.
func documentSource(path string, opts portable.Options) (transfer.Source, error) {
	if path == "-" {
		return transfer.ReaderSource(os.Stdin, opts), nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return transfer.DirSource(path, opts), nil
	}
	return transfer.FileSource(path, opts), nil
}

// prosodySource reads the Prosody data directory dir: through
// prosody-migrator where it is installed (and -direct is not given),
// with what its XEP-0227 driver leaves out read directly, or all
// directly. cleanup removes the migrator's export.
func prosodySource(ctx context.Context, cfg config.Config, dir string, direct bool, opts portable.Options, out io.Writer) (transfer.Source, func(), error) {
	d := prosody.Dir{Path: dir, Limits: prosody.Limits{MaxBytes: opts.MaxElementBytes}}
	hosts, err := d.Hosts()
	if err != nil {
		return nil, nil, err
	}
	if len(hosts) == 0 {
		return nil, nil, fmt.Errorf("%s has no accounts: is it Prosody's data directory (data_path in prosody.cfg.lua), with internal storage?", dir)
	}
	for _, h := range hosts {
		if !slices.ContainsFunc(cfg.Domains, func(d string) bool { return strings.EqualFold(d, h) }) {
			fmt.Fprintf(out, "Prosody serves %s, which this roost does not: its accounts are skipped (add it to domains in roost.toml to move them)\n", h)
		}
	}
	migrator, err := prosody.FindMigrator()
	if direct || err != nil {
		fmt.Fprintf(out, "reading Prosody's files in %s directly\n", dir)
		return d.Source(hosts), nil, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, nil, err
	}
	tmp, err := os.MkdirTemp(cfg.DataDir, ".prosody-export-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { _ = os.RemoveAll(tmp) }
	fmt.Fprintf(out, "exporting %s with %s (XEP-0227); block lists, offline messages and group chat rooms are read from the files\n", dir, migrator)
	if err := d.Migrate(ctx, migrator, tmp, hosts); err != nil {
		return nil, cleanup, err
	}
	src := d.Supplement(transfer.DirSource(tmp, opts), func(j string) {
		fmt.Fprintf(out, "%s: skipped: Prosody has data for it but no account (left by a deleted account)\n", j)
	})
	return src, cleanup, nil
}
