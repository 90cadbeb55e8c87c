// Package console is the admins' web console on the HTTPS port, at
// /admin/: accounts (list, add, delete, reset password, make admin), who
// is online (account, device, app, address, since; disconnect), group
// chats (list, occupants, close), invitations (make one with its QR code,
// withdraw), and the server's status (uptime, version, certificates and
// their expiry, links to other servers, data stored, health checks).
//
// The pages are server-rendered with html/template, which escapes every
// value (a user name with HTML in it shows as text); they carry a small
// stylesheet, no script (Content-Security-Policy forbids them), and fit
// a phone's screen.
//
// # Who may use it
//
// Accounts with the admin role log in with their chat address and
// password, checked against the stored SCRAM keys ([Accounts]
// CheckPassword); nobody else can, and the answer does not say whether
// the account exists or merely is no admin. Wrong passwords are counted
// per address ([Options].MaxLoginFailures in LoginWindow). A login makes
// a random session token, sent as a cookie named with the __Host- prefix,
// Secure, HttpOnly and SameSite=Strict; the server keeps only its
// SHA-256. Sessions expire ([Options].SessionTimeout), end at logout, and
// end as soon as the account loses the admin role.
//
// Every form that changes something is a POST carrying the session's
// CSRF token, compared in constant time; a POST a browser marks as coming
// from another site (Sec-Fetch-Site, Origin) is refused as well. Admins
// cannot delete or demote themselves here, and deleting an account needs
// its address typed out.
//
// # Concurrency
//
// Sessions and login failures are kept in memory behind one mutex; they
// are lost when the server restarts (admins log in again).
package console
