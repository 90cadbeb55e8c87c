// Package pkgtest tests what roost ships rather than how it works: the
// cross-built binaries, the unit files and the Debian packages. Its tests
// sit behind the pkgtest build tag and run with `make test-package`
// (which .ci/run runs): they need root, qemu-user-static, lintian,
// systemd-analyze, debootstrap and Debian's package mirror.
//
// # What is checked
//
//   - Reproducibility: a second build of every binary, from a copy of the
//     tree at another path with an empty build cache, and of every .deb,
//     gives the same bytes.
//   - lintian reports no error or warning on the amd64, arm64 and armhf
//     packages.
//   - systemd-analyze verify prints nothing about the units, and
//     systemd-analyze security --offline=true rates roost.service at an
//     exposure of 2.0 or less.
//   - The arm64, armv7 and armv6 binaries run `roost version` and serve a
//     client login under qemu-user (armv6 as an ARM1176, the Pi Zero and 1
//     CPU, on which the armv7 binary must fail), and the store and
//     xmlstream package tests pass there (go test -exec).
//   - In a Debian arm64 chroot made with debootstrap and run under qemu,
//     dpkg installs the arm64 package; roost starts as the unit starts it,
//     with the packaged configuration, reports READY=1, takes logins,
//     a shared file (XEP-0363 over HTTPS on port 5443), the chat page
//     with converse.js from /usr/share/roost/chat-app, admin commands and
//     a hot backup, and stops cleanly on SIGTERM; an
//     upgrade keeps the data and an edited configuration; remove keeps
//     both; purge deletes them.
//
// # Isolation
//
// Nothing here touches the machine's own services, users or binfmt
// handlers. The chroot steps run in a user and mount namespace of their
// own (mapping the host's ids 0-65535 one to one), which mounts a private
// binfmt_misc instance (Linux 6.7 and later) to run arm64 programs under
// qemu-aarch64-static. Servers listen on 127.0.0.x only.
package pkgtest
