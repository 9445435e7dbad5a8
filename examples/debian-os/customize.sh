#!/bin/sh
# mmdebstrap --customize-hook of build-tree.sh: $1 is the new tree. Run again
# on a built tree when this file changes (build-tree.sh compares its
# checksum with the stamp's), so it must stay idempotent.
set -eu
t=$1

# lighttpd answers on the socket its systemd passes it, and writes nothing
# to the (read-only) tree: no pid file, errors to stderr (the journal).
cat >"$t/etc/lighttpd/nsinetd.conf" <<'CONF'
server.modules = ( "mod_indexfile", "mod_staticfile" )
server.systemd-socket-activation = "enable"
server.document-root = "/var/www/html"
server.upload-dirs = ( "/tmp" )
server.username = "www-data"
server.groupname = "www-data"
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html; charset=utf-8", "" => "application/octet-stream" )
# SIGINT (the unit's KillSignal=): stop accepting, finish what is in flight.
server.feature-flags += ( "server.graceful-shutdown-timeout" => 5 )
CONF
mkdir -p "$t/var/www/html"
printf 'hello from a booted Debian\n' >"$t/var/www/html/index.html"

cat >"$t/etc/systemd/system/lighttpd.socket" <<'UNIT'
[Unit]
Description=lighttpd socket (nsinetd passes it)
# Never stopped by the halt: a socket unit that is stopping flushes (accepts
# and closes) the connections queued for the next boot.
DefaultDependencies=no
Before=sockets.target

[Socket]
# Exactly the address nsinetd listens on: systemd closes a passed socket
# whose address differs and binds its own.
ListenStream=127.0.0.1:8099

[Install]
WantedBy=sockets.target
UNIT
mkdir -p "$t/etc/systemd/system/lighttpd.service.d"
cat >"$t/etc/systemd/system/lighttpd.service.d/nsinetd.conf" <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/usr/sbin/lighttpd -tt -f /etc/lighttpd/nsinetd.conf
ExecStart=
ExecStart=/usr/sbin/lighttpd -D -f /etc/lighttpd/nsinetd.conf
# A graceful stop: connections it has accepted are answered when the
# container halts; the ones still queued stay in nsinetd's socket.
KillSignal=SIGINT
UNIT
# Started by its socket, not at boot.
rm -f "$t/etc/systemd/system/multi-user.target.wants/lighttpd.service"
mkdir -p "$t/etc/systemd/system/sockets.target.wants"
ln -sf /etc/systemd/system/lighttpd.socket "$t/etc/systemd/system/sockets.target.wants/lighttpd.socket"
# An empty machine id: systemd takes container_uuid, on a tmpfs of its own.
: >"$t/etc/machine-id"
