/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/strv.h"
#include "supervisor/config.h"
#include "supervisor/hardening.h"
#include "tests/unit/tap.h"

/* Four lines that make a valid service; what a test adds starts at line 5. */
#define BASE "[Socket]\nListenStream=8080\n[Container]\nExec=/bin/true\n"

/* A TAP description ends at a newline: keep the first line only. */
#define FIRST_LINE(what)                                                                           \
	char what##_buf[256];                                                                      \
	snprintf(what##_buf, sizeof(what##_buf), "%.*s", (int)strcspn(what, "\n"), what);          \
	what = what##_buf

static struct service_config *parse_good(const char *text, const char *what)
{
	FIRST_LINE(what);
	struct config_errors errs = {0};
	struct service_config *c = NULL;
	int r = config_parse_string(text, "t.conf", "web", &errs, &c);

	is_int(r, 0, "%s: parses", what);
	is_int(errs.n, 0, "%s: no errors", what);
	for (size_t i = 0; i < errs.n; i++)
		printf("#   %s\n", errs.messages[i]);
	config_errors_clear(&errs);
	return c;
}

/* Expects the text to fail with exactly these messages (NULL-terminated). */
static void parse_bad_v(const char *text, const char *what, va_list ap)
{
	FIRST_LINE(what);
	struct config_errors errs = {0};
	struct service_config *c = NULL;
	_cleanup_strv_free_ char **expect = NULL;
	const char *m;
	int r;

	while ((m = va_arg(ap, const char *)))
		strv_push(&expect, m);
	r = config_parse_string(text, "t.conf", "web", &errs, &c);
	is_int(r, -EINVAL, "%s: fails", what);
	ok(!c, "%s: no result", what);
	config_free(c);
	ok(strv_equal(errs.messages, expect), "%s: the expected messages", what);
	if (!strv_equal(errs.messages, expect)) {
		STRV_FOREACH (e, expect)
			printf("#   expected: %s\n", *e);
		for (size_t i = 0; i < errs.n; i++)
			printf("#   got:      %s\n", errs.messages[i]);
	}
	config_errors_clear(&errs);
}

static void __attribute__((sentinel)) parse_bad(const char *text, const char *what, ...)
{
	va_list ap;

	va_start(ap, what);
	parse_bad_v(text, what, ap);
	va_end(ap);
}

/* BASE + "[section]\nline\n": one error, on line 6. */
static void bad_key(const char *section, const char *line, const char *message)
{
	_cleanup_free_ char *text = NULL, *full = NULL;

	if (asprintf(&text, BASE "[%s]\n%s\n", section, line) < 0 ||
	    asprintf(&full, "t.conf:6: %s", message) < 0)
		abort();
	parse_bad(text, line, full, NULL);
}

/* BASE + "[section]\nline\n" parses; returns the config. */
static struct service_config *good_key(const char *section, const char *line)
{
	_cleanup_free_ char *text = NULL;

	if (asprintf(&text, BASE "[%s]\n%s\n", section, line) < 0)
		abort();
	return parse_good(text, line);
}

static void test_defaults(void)
{
	struct service_config *c = parse_good(BASE, "minimal file");

	if (!c)
		return;
	is_str(c->name, "web", "name");
	is_str(c->path, "t.conf", "path");
	is_int(c->socket.n_listen, 1, "one listener");
	is_int(c->socket.listen[0].type, LISTEN_STREAM, "stream");
	is_str(c->socket.listen[0].text, "8080", "listen text");
	is_int(c->socket.listen[0].line, 2, "listen line");
	ok(c->socket.listen[0].address.any_port, "bare port");
	ok(!c->socket.accept, "Accept=no");
	is_int(c->socket.backlog, 4096, "Backlog default");
	ok(c->socket.trigger_limit_interval == 2 * USEC_PER_SEC,
	   "TriggerLimitIntervalSec default 2s");
	is_int(c->socket.trigger_limit_burst, 200, "TriggerLimitBurst default 200");
	is_str(c->socket.fd_name, "web", "FileDescriptorName default = the name");
	is_int(c->socket.bind_ipv6_only, BIND_IPV6_DEFAULT, "BindIPv6Only default");
	ok(!c->socket.reuse_port && !c->socket.free_bind, "ReusePort, FreeBind default no");
	is_int(c->socket.defer_accept, 0, "DeferAcceptSec default 0");
	is_int(c->socket.socket_mode, 0666, "SocketMode default");
	ok(!c->socket.socket_user && !c->socket.socket_group, "SocketUser/Group default NULL");
	ok(!c->container.directory, "Directory default NULL");
	ok(strv_equal(c->container.exec, (char *[]){"/bin/true", NULL}), "Exec");
	is_str(c->container.working_directory, "/", "WorkingDirectory default /");
	ok(!c->container.environment, "Environment default empty");
	ok(!c->container.user && !c->container.group, "User/Group default NULL");
	is_str(c->container.hostname, "web", "Hostname default = the name");
	ok(c->container.n_binds == 0 && c->container.n_tmpfs == 0, "no mounts");
	ok(c->container.read_only, "ReadOnly default yes (also for Directory=)");
	is_int(c->container.network, NETWORK_NONE, "Network default none");
	ok(c->service.stop_timeout == 10 * USEC_PER_SEC, "StopTimeoutSec default 10s");
	is_int(c->service.kill_signal, SIGTERM, "KillSignal default SIGTERM");
	ok(c->service.start_limit_interval == 10 * USEC_PER_SEC, "StartLimitIntervalSec default");
	is_int(c->service.start_limit_burst, 5, "StartLimitBurst default 5");
	config_free(c);

	/* Defaults from a name that is no hostname. */
	struct config_errors errs = {0};
	c = NULL;
	is_int(config_parse_string(BASE, "x.conf", "echo@1", &errs, &c), 0, "name echo@1");
	if (c) {
		is_str(c->container.hostname, "nsinetd", "Hostname default for echo@1");
		is_str(c->socket.fd_name, "echo@1", "FileDescriptorName default for echo@1");
	}
	config_free(c);
	config_errors_clear(&errs);
}

static void test_socket_keys(void)
{
	struct service_config *c;

	c = parse_good("[Socket]\n"
		       "ListenStream=127.0.0.1:80\n"
		       "ListenDatagram=127.0.0.1:80\n"
		       "ListenStream=[::1]:80\n"
		       "ListenSequentialPacket=/run/web.sock\n"
		       "ListenDatagram=@web\n"
		       "ListenStream=/run/web2.sock\n"
		       "[Container]\nExec=/bin/true\n",
		       "every listen form");
	if (c) {
		is_int(c->socket.n_listen, 6, "six listeners");
		is_int(c->socket.listen[0].type, LISTEN_STREAM, "0 stream");
		is_int(c->socket.listen[1].type, LISTEN_DATAGRAM, "1 datagram (same address, UDP)");
		is_int(c->socket.listen[3].type, LISTEN_SEQPACKET, "3 seqpacket");
		is_str(c->socket.listen[4].text, "@web", "4 text");
		is_int(c->socket.listen[5].line, 7, "5 line");
		is_int(socket_address_family(&c->socket.listen[2].address), AF_INET6, "2 IPv6");
	}
	config_free(c);

	c = good_key("Socket", "Accept=no");
	ok(c && !c->socket.accept, "Accept=no");
	config_free(c);
	c = good_key("Socket", "Backlog=1");
	ok(c && c->socket.backlog == 1, "Backlog=1");
	config_free(c);
	c = good_key("Socket", "Backlog=65535");
	ok(c && c->socket.backlog == 65535, "Backlog=65535");
	config_free(c);
	c = good_key("Socket", "FileDescriptorName=http");
	is_str(c ? c->socket.fd_name : NULL, "http", "FileDescriptorName=http");
	config_free(c);
	c = good_key("Socket", "FileDescriptorName=a b~!");
	is_str(c ? c->socket.fd_name : NULL, "a b~!", "FileDescriptorName with spaces");
	config_free(c);
	c = good_key("Socket", "BindIPv6Only=both");
	ok(c && c->socket.bind_ipv6_only == BIND_IPV6_BOTH, "BindIPv6Only=both");
	config_free(c);
	c = good_key("Socket", "BindIPv6Only=ipv6-only");
	ok(c && c->socket.bind_ipv6_only == BIND_IPV6_ONLY, "BindIPv6Only=ipv6-only");
	config_free(c);
	c = good_key("Socket", "BindIPv6Only=default");
	ok(c && c->socket.bind_ipv6_only == BIND_IPV6_DEFAULT, "BindIPv6Only=default");
	config_free(c);
	c = good_key("Socket", "ReusePort=yes");
	ok(c && c->socket.reuse_port, "ReusePort=yes");
	config_free(c);
	c = good_key("Socket", "FreeBind=true");
	ok(c && c->socket.free_bind, "FreeBind=true");
	config_free(c);
	c = good_key("Socket", "DeferAcceptSec=30s");
	ok(c && c->socket.defer_accept == 30 * USEC_PER_SEC, "DeferAcceptSec=30s");
	config_free(c);
	c = good_key("Socket", "SocketMode=0600");
	ok(c && c->socket.socket_mode == 0600, "SocketMode=0600");
	config_free(c);
	c = good_key("Socket", "SocketUser=www-data");
	is_str(c ? c->socket.socket_user : NULL, "www-data", "SocketUser=www-data");
	config_free(c);
	c = good_key("Socket", "SocketGroup=33");
	is_str(c ? c->socket.socket_group : NULL, "33", "SocketGroup=33");
	config_free(c);
}

static void test_socket_errors(void)
{
	bad_key("Socket", "ListenStream=127.0.0.1:99999",
		"ListenStream=: invalid address '127.0.0.1:99999': port out of range");
	bad_key("Socket", "ListenDatagram=0",
		"ListenDatagram=: invalid address '0': port out of range");
	bad_key("Socket", "ListenStream=localhost:80",
		"ListenStream=: invalid address 'localhost:80': expected PORT, IPv4:PORT, "
		"[IPv6]:PORT, /path or @name");
	bad_key(
	    "Socket",
	    "ListenStream=/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "ListenStream=: invalid address '/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa': path too long (at "
	    "most 107 bytes)");
	bad_key("Socket", "ListenSequentialPacket=127.0.0.1:80",
		"ListenSequentialPacket=: invalid address '127.0.0.1:80': only unix sockets "
		"(/path or @name) can be sequential-packet sockets");
	bad_key("Socket", "Accept=maybe", "Accept=: invalid boolean 'maybe': expected yes or no");
	bad_key("Socket", "Backlog=0",
		"Backlog=: invalid value '0': expected a number from 1 to 65535");
	bad_key("Socket", "Backlog=65536",
		"Backlog=: invalid value '65536': expected a number from 1 to 65535");
	bad_key("Socket", "Backlog=-1",
		"Backlog=: invalid value '-1': expected a number from 1 to 65535");
	bad_key("Socket", "Backlog=99999999999999999999999",
		"Backlog=: invalid value '99999999999999999999999': expected a number from 1 "
		"to 65535");
	bad_key("Socket", "FileDescriptorName=a:b",
		"FileDescriptorName=: invalid name 'a:b': expected 1-255 printable ASCII "
		"characters without ':'");
	bad_key("Socket", "FileDescriptorName=caf\xc3\xa9",
		"FileDescriptorName=: invalid name 'caf\xc3\xa9': expected 1-255 printable ASCII "
		"characters without ':'");
	bad_key("Socket", "BindIPv6Only=yes",
		"BindIPv6Only=: invalid value 'yes': expected default, both or ipv6-only");
	bad_key("Socket", "ReusePort=2", "ReusePort=: invalid boolean '2': expected yes or no");
	bad_key("Socket", "FreeBind=x", "FreeBind=: invalid boolean 'x': expected yes or no");
	bad_key("Socket", "DeferAcceptSec=soon", "DeferAcceptSec=: invalid duration 'soon'");
	bad_key("Socket", "DeferAcceptSec=infinity",
		"DeferAcceptSec=: duration 'infinity' out of range (at most 2147483647s)");
	bad_key("Socket", "SocketMode=0999",
		"SocketMode=: invalid mode '0999': expected an octal number from 0 to 7777");
	bad_key("Socket", "SocketMode=10000",
		"SocketMode=: invalid mode '10000': expected an octal number from 0 to 7777");
	bad_key("Socket", "SocketUser=-root", "SocketUser=: invalid user name '-root'");
	bad_key("Socket", "SocketGroup=4294967295",
		"SocketGroup=: invalid group name '4294967295'");
	bad_key("Socket", "SocketUser=65535", "SocketUser=: invalid user name '65535'");
	bad_key("Socket", "SocketUser=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"SocketUser=: invalid user name 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'");
	bad_key("Socket", "Foo=1", "unknown key 'Foo' in section [Socket]");
	bad_key("Socket", "Exec=/bin/true", "unknown key 'Exec' in section [Socket]");
	bad_key("Socket", "listenstream=80", "unknown key 'listenstream' in section [Socket]");
}

static void test_container_keys(void)
{
	struct service_config *c;

	c = good_key("Container", "Directory=/srv/containers/web");
	is_str(c ? c->container.directory : NULL, "/srv/containers/web", "Directory=");
	config_free(c);
	c = good_key("Container", "Exec=/usr/bin/env \"A B\" 'c d' e\\ f");
	ok(c &&
	       strv_equal(c->container.exec, (char *[]){"/usr/bin/env", "A B", "c d", "e f", NULL}),
	   "Exec= with quoting");
	config_free(c);
	c = good_key("Container", "WorkingDirectory=/srv");
	is_str(c ? c->container.working_directory : NULL, "/srv", "WorkingDirectory=");
	config_free(c);
	c = good_key("Container", "Environment=A=1 \"B=two words\" C=\nEnvironment=A=3 _D1=x");
	ok(c && strv_equal(c->container.environment,
			   (char *[]){"A=3", "B=two words", "C=", "_D1=x", NULL}),
	   "Environment= repeated, quoted, replaced");
	config_free(c);
	c = good_key("Container", "User=www-data\nGroup=_daemon");
	ok(c && strcmp(c->container.user, "www-data") == 0 &&
	       strcmp(c->container.group, "_daemon") == 0,
	   "User=, Group=");
	config_free(c);
	c = good_key("Container", "User=0");
	is_str(c ? c->container.user : NULL, "0", "User=0");
	config_free(c);
	c = good_key("Container", "Hostname=web-1.example");
	is_str(c ? c->container.hostname : NULL, "web-1.example", "Hostname=");
	config_free(c);
	c = good_key("Container", "Bind=/srv\n"
				  "Bind=-/opt/x:/x\n"
				  "Bind=/a:/b:ro\n"
				  "Bind=/c::rw\n"
				  "BindReadOnly=/d:/e\n"
				  "BindReadOnly=/f\\:g:/h:ro\n");
	if (c && c->container.n_binds == 6) {
		struct bind_config *b = c->container.binds;

		ok(!strcmp(b[0].source, "/srv") && !strcmp(b[0].target, "/srv") &&
		       !b[0].read_only && !b[0].optional,
		   "Bind=/srv");
		ok(!strcmp(b[1].source, "/opt/x") && !strcmp(b[1].target, "/x") && b[1].optional,
		   "Bind=-/opt/x:/x");
		ok(!strcmp(b[2].target, "/b") && b[2].read_only, "Bind=/a:/b:ro");
		ok(!strcmp(b[3].target, "/c") && !b[3].read_only, "Bind=/c::rw");
		ok(!strcmp(b[4].source, "/d") && b[4].read_only, "BindReadOnly=/d:/e");
		ok(!strcmp(b[5].source, "/f:g") && !strcmp(b[5].target, "/h") && b[5].read_only,
		   "BindReadOnly= with an escaped ':'");
	} else {
		ok(false, "six binds");
	}
	config_free(c);
	c = good_key("Container", "TemporaryFileSystem=/tmp\n"
				  "TemporaryFileSystem=/var/cache:mode=0755,size=64M\n");
	if (c && c->container.n_tmpfs == 2) {
		ok(!strcmp(c->container.tmpfs[0].target, "/tmp") && !c->container.tmpfs[0].options,
		   "TemporaryFileSystem=/tmp");
		ok(!strcmp(c->container.tmpfs[1].target, "/var/cache") &&
		       !strcmp(c->container.tmpfs[1].options, "mode=0755,size=64M"),
		   "TemporaryFileSystem= with options");
	} else {
		ok(false, "two tmpfs");
	}
	config_free(c);
	c = good_key("Container", "ReadOnly=yes");
	ok(c && c->container.read_only == 1, "ReadOnly=yes");
	config_free(c);
	c = good_key("Container", "ReadOnly=no");
	ok(c && c->container.read_only == 0, "ReadOnly=no");
	config_free(c);
	c = good_key("Container", "Network=host");
	ok(c && c->container.network == NETWORK_HOST, "Network=host");
	config_free(c);
	c = good_key("Container", "Network=none");
	ok(c && c->container.network == NETWORK_NONE, "Network=none");
	config_free(c);
}

static void test_container_errors(void)
{
	const char *path_rule = "must be absolute and normalized (no '.', '..', '//' or trailing "
				"'/')";
	char m[256];

	snprintf(m, sizeof(m), "Directory=: invalid path 'srv': %s", path_rule);
	bad_key("Container", "Directory=srv", m);
	snprintf(m, sizeof(m), "Directory=: invalid path '/srv/../etc': %s", path_rule);
	bad_key("Container", "Directory=/srv/../etc", m);
	snprintf(m, sizeof(m), "WorkingDirectory=: invalid path '/srv/': %s", path_rule);
	bad_key("Container", "WorkingDirectory=/srv/", m);
	bad_key("Container", "Exec=/bin/sh -c 'echo",
		"Exec=: unterminated quote in '/bin/sh -c 'echo'");
	bad_key("Container", "Exec=\"\" x", "Exec=: the program name is empty");
	bad_key("Container", "Environment=FOO",
		"Environment=: invalid assignment 'FOO': expected KEY=value");
	bad_key("Container", "Environment=1X=a",
		"Environment=: invalid variable name in '1X=a': expected letters, digits and '_', "
		"not starting with a digit");
	bad_key("Container", "Environment==a",
		"Environment=: invalid variable name in '=a': expected letters, digits and '_', "
		"not starting with a digit");
	bad_key("Container", "Environment=A-B=1",
		"Environment=: invalid variable name in 'A-B=1': expected letters, digits and '_', "
		"not starting with a digit");
	bad_key("Container", "Environment=A=\"x", "Environment=: unterminated quote in 'A=\"x'");
	bad_key("Container", "User=a b", "User=: invalid user name 'a b'");
	bad_key("Container", "Group=9x", "Group=: invalid group name '9x'");
	bad_key("Container", "Hostname=-web",
		"Hostname=: invalid hostname '-web': expected dot-separated labels of letters, "
		"digits and '-', at most 64 characters");
	bad_key("Container", "Bind=srv",
		"Bind=: invalid source 'srv': must be an absolute, normalized path (no '.', '..', "
		"'//' or trailing '/')");
	bad_key("Container", "Bind=/srv:x",
		"Bind=: invalid target 'x': must be an absolute, normalized path (no '.', '..', "
		"'//' or trailing '/')");
	bad_key("Container", "Bind=/a:/b:rbind",
		"Bind=: invalid option 'rbind': expected ro, rw, idmap or suid (comma-separated)");
	bad_key("Container", "Bind=/a:/b:ro:x",
		"Bind=: invalid value '/a:/b:ro:x': expected SOURCE[:TARGET[:OPTIONS]]");
	bad_key("Container", "BindReadOnly=/a:/b:rw",
		"BindReadOnly=: option 'rw' contradicts BindReadOnly= (use Bind=)");
	snprintf(m, sizeof(m), "TemporaryFileSystem=: invalid path 'tmp': %s", path_rule);
	bad_key("Container", "TemporaryFileSystem=tmp:size=1M", m);
	bad_key("Container", "TemporaryFileSystem=/tmp:size=1M mode=1777",
		"TemporaryFileSystem=: invalid mount options 'size=1M mode=1777': no spaces or "
		"control characters");
	bad_key("Container", "ReadOnly=perhaps",
		"ReadOnly=: invalid boolean 'perhaps': expected yes or no");
	bad_key("Container", "Network=bridge",
		"Network=: invalid value 'bridge': expected none, host, veth, shared-empty or "
		"netns:NAME");
	bad_key("Container", "LimitFOO=1", "unknown key 'LimitFOO' in section [Container]");
	bad_key("Container", "ListenStream=80",
		"unknown key 'ListenStream' in section [Container]");
}

/* The sandbox keys (config-sandbox.c). */
static void test_sandbox_keys(void)
{
	struct service_config *c;
	const struct sandbox_config *sb;

	c = parse_good(BASE, "sandbox defaults");
	if (c) {
		sb = &c->container.sandbox;
		is_int(sb->private_users, PRIVATE_USERS_PICK, "PrivateUsers default pick");
		ok(!sb->capabilities_set, "Capabilities default: the documented set");
		/* CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
		 * NET_BIND_SERVICE SYS_CHROOT: bits 0 1 3-8 10 18. */
		ok(config_capabilities(&c->container, 0) == 0x405fb, "root's default capabilities");
		is_int((int)config_capabilities(&c->container, 1000), 0,
		       "no capability by default for a non-root User=");
		ok(!(config_capabilities(&c->container, 0) & (UINT64_C(1) << 21)),
		   "never CAP_SYS_ADMIN by default");
		ok(sb->no_new_privileges, "NoNewPrivileges default yes");
		ok(!sb->syscall_allow_list && !sb->syscall_allow && !sb->syscall_deny,
		   "SystemCallFilter default: the base filter only");
		is_int(sb->syscall_error_number, 0, "SystemCallErrorNumber default (EPERM)");
		ok(!sb->rlimits[RLIMIT_NOFILE].set, "LimitNOFILE default unset");
		ok(sb->rlimits[RLIMIT_NPROC].set && sb->rlimits[RLIMIT_NPROC].soft == 512 &&
		       sb->rlimits[RLIMIT_NPROC].hard == 512,
		   "LimitNPROC default 512");
		ok(sb->memory_max == 0 && sb->cpu_weight == 0, "cgroup settings default unset");
		ok(sb->tasks_max == 0, "TasksMax default (0: CONFIG_DEFAULT_TASKS_MAX)");
		config_free(c);
	}

	c = good_key("Container", "PrivateUsers=yes");
	ok(c && c->container.sandbox.private_users == PRIVATE_USERS_PICK, "PrivateUsers=yes");
	config_free(c);
	c = good_key("Container", "PrivateUsers=pick");
	ok(c && c->container.sandbox.private_users == PRIVATE_USERS_PICK, "PrivateUsers=pick");
	config_free(c);
	c = good_key("Container", "PrivateUsers=no");
	ok(c && c->container.sandbox.private_users == PRIVATE_USERS_NO, "PrivateUsers=no");
	config_free(c);
	c = parse_good(BASE, "Prepare default");
	ok(c && !c->container.prepare, "Prepare= default no");
	config_free(c);
	c = good_key("Container", "Prepare=yes");
	ok(c && c->container.prepare, "Prepare=yes");
	config_free(c);
	c = good_key("Container", "Prepare=yes\nPrepare=");
	ok(c && !c->container.prepare, "Prepare= (empty) resets to no");
	config_free(c);
	bad_key("Container", "Prepare=maybe",
		"Prepare=: invalid boolean 'maybe': expected yes or no");
	c = good_key("Container", "Bind=/srv:/srv:ro,idmap,suid");
	ok(c && c->container.n_binds == 1 && c->container.binds[0].read_only &&
	       c->container.binds[0].idmap && c->container.binds[0].suid,
	   "Bind= options ro,idmap,suid");
	config_free(c);
	c = good_key("Container", "Bind=/srv:/srv");
	ok(c && !c->container.binds[0].idmap && !c->container.binds[0].suid,
	   "Bind= default: no idmap, nosuid");
	config_free(c);
	parse_bad(
	    BASE "[Container]\nBind=/srv:/srv:idmap\nPrivateUsers=no\n", "idmap without userns",
	    "t.conf: Bind=/srv: option 'idmap' needs a user namespace (PrivateUsers=no is set)",
	    NULL);
	bad_key("Container", "Bind=/srv:/srv:ro,bogus",
		"Bind=: invalid option 'bogus': expected ro, rw, idmap or suid (comma-separated)");
	c = good_key("Container", "PrivateUsers=no\nPrivateUsers=");
	ok(c && c->container.sandbox.private_users == PRIVATE_USERS_PICK,
	   "PrivateUsers= (empty) resets to the default, pick");
	config_free(c);
	c = good_key("Container", "PrivateUsers=100000:1000");
	ok(c && c->container.sandbox.private_users == PRIVATE_USERS_FIXED &&
	       c->container.sandbox.private_users_shift == 100000 &&
	       c->container.sandbox.private_users_range == 1000,
	   "PrivateUsers=UID:COUNT");
	config_free(c);
	c = good_key("Container", "PrivateUsers=200000");
	ok(c && c->container.sandbox.private_users_range == 65536, "PrivateUsers=UID: 65536 uids");
	config_free(c);

	c = parse_good(BASE "[Container]\nCapabilities=CAP_NET_BIND_SERVICE cap_chown\n"
			    "Capabilities=CAP_KILL\n",
		       "Capabilities= adds up");
	ok(c && c->container.sandbox.capabilities_set &&
	       c->container.sandbox.capabilities == ((UINT64_C(1) << 10) | 1 | (1 << 5)),
	   "Capabilities= list");
	ok(c && config_capabilities(&c->container, 1000) == c->container.sandbox.capabilities,
	   "Capabilities= applies to a non-root User= too");
	config_free(c);
	c = good_key("Container", "Capabilities=");
	ok(c && c->container.sandbox.capabilities_set && c->container.sandbox.capabilities == 0 &&
	       config_capabilities(&c->container, 0) == 0,
	   "Capabilities= empty: none");
	config_free(c);

	c = good_key("Container", "NoNewPrivileges=no");
	ok(c && !c->container.sandbox.no_new_privileges, "NoNewPrivileges=no");
	config_free(c);

	c = parse_good(BASE "[Container]\nSystemCallFilter=@system-service\n"
			    "SystemCallFilter=~@mount reboot\nSystemCallErrorNumber=EACCES\n"
			    "SystemCallArchitectures=native\n",
		       "SystemCallFilter= allow and deny");
	if (c) {
		sb = &c->container.sandbox;
		ok(sb->syscall_allow_list, "an allow list");
		ok(sb->syscall_allow && !strcmp(sb->syscall_allow[0], "@system-service") &&
		       !sb->syscall_allow[1],
		   "allow: @system-service");
		ok(sb->syscall_deny && !strcmp(sb->syscall_deny[0], "@mount") &&
		       !strcmp(sb->syscall_deny[1], "reboot"),
		   "deny: @mount reboot");
		is_int(sb->syscall_error_number, EACCES, "SystemCallErrorNumber=EACCES");
		config_free(c);
	}
	c = good_key("Container", "SystemCallErrorNumber=38");
	ok(c && c->container.sandbox.syscall_error_number == 38, "SystemCallErrorNumber=38");
	config_free(c);

	c = good_key("Container", "OOMScoreAdjust=-1000");
	ok(c && c->container.sandbox.oom_score_adjust == -1000, "OOMScoreAdjust=-1000");
	config_free(c);
	c = good_key("Container", "OOMScoreAdjust=500\nOOMScoreAdjust=");
	ok(c && c->container.sandbox.oom_score_adjust == CONFIG_OOM_SCORE_UNSET,
	   "OOMScoreAdjust= empty: unset again");
	config_free(c);
	bad_key("Container", "OOMScoreAdjust=1001",
		"OOMScoreAdjust=: invalid value '1001': expected a number from -1000 to 1000");
	bad_key("Container", "OOMScoreAdjust=--5",
		"OOMScoreAdjust=: invalid value '--5': expected a number from -1000 to 1000");
	{
		bool write, clamped;
		int v;

		v = hardening_oom_score(CONFIG_OOM_SCORE_UNSET, 0, false, &write, &clamped);
		ok(v == 0 && !write, "unset: the daemon's 0 is inherited, nothing written");
		v = hardening_oom_score(CONFIG_OOM_SCORE_UNSET, -500, false, &write, &clamped);
		ok(v == 0 && write && !clamped,
		   "unset: a daemon's -500 is not passed on, 0 is written");
		v = hardening_oom_score(CONFIG_OOM_SCORE_UNSET, 300, false, &write, &clamped);
		ok(v == 300 && !write, "unset: a daemon's 300 is inherited");
		v = hardening_oom_score(700, -500, false, &write, &clamped);
		ok(v == 700 && write && !clamped, "700: written");
		v = hardening_oom_score(-100, 0, false, &write, &clamped);
		ok(v == 0 && write && clamped, "-100 without CAP_SYS_RESOURCE: the daemon's 0");
		v = hardening_oom_score(-100, 0, true, &write, &clamped);
		ok(v == -100 && write && !clamped, "-100 with CAP_SYS_RESOURCE");
	}

	c = parse_good(BASE "[Container]\nLimitNOFILE=64\nLimitNPROC=10:20\nLimitAS=1G\n"
			    "LimitCPU=1min\nLimitCORE=infinity\n",
		       "Limit*=");
	if (c) {
		sb = &c->container.sandbox;
		ok(sb->rlimits[RLIMIT_NOFILE].set && sb->rlimits[RLIMIT_NOFILE].soft == 64 &&
		       sb->rlimits[RLIMIT_NOFILE].hard == 64,
		   "LimitNOFILE=64");
		ok(sb->rlimits[RLIMIT_NPROC].soft == 10 && sb->rlimits[RLIMIT_NPROC].hard == 20,
		   "LimitNPROC=10:20");
		ok(sb->rlimits[RLIMIT_AS].soft == (UINT64_C(1) << 30), "LimitAS=1G");
		ok(sb->rlimits[RLIMIT_CPU].soft == 60, "LimitCPU=1min is 60 s");
		ok(sb->rlimits[RLIMIT_CORE].soft == RLIM_INFINITY, "LimitCORE=infinity");
		config_free(c);
	}
	c = parse_good(BASE "[Container]\nMemoryMax=256M\nMemoryHigh=200M\nTasksMax=64\n"
			    "CPUWeight=50\nCPUQuota=150%\nIOWeight=10\n",
		       "cgroup settings");
	if (c) {
		sb = &c->container.sandbox;
		ok(sb->memory_max == 256 << 20 && sb->memory_high == 200 << 20, "Memory*=");
		ok(sb->tasks_max == 64 && sb->cpu_weight == 50 && sb->cpu_quota == 150 &&
		       sb->io_weight == 10,
		   "TasksMax= CPUWeight= CPUQuota= IOWeight=");
		config_free(c);
	}
	c = good_key("Container", "TasksMax=infinity");
	ok(c && c->container.sandbox.tasks_max == UINT64_MAX, "TasksMax=infinity");
	config_free(c);
	c = good_key("Container", "TasksMax=64\nTasksMax=");
	ok(c && c->container.sandbox.tasks_max == 0, "TasksMax= resets to the default");
	config_free(c);

	/* LimitNPROC=: 512, or 4 per sandbox of an Accept=yes service (they
	 * share their uid); explicit values and infinity win. */
	c = good_key("Container", "LimitNPROC=infinity");
	ok(c && c->container.sandbox.rlimits[RLIMIT_NPROC].soft == RLIM_INFINITY &&
	       c->container.sandbox.rlimits[RLIMIT_NPROC].hard == RLIM_INFINITY,
	   "LimitNPROC=infinity turns the default off");
	config_free(c);
	c = good_key("Container", "LimitNPROC=10\nLimitNPROC=");
	ok(c && c->container.sandbox.rlimits[RLIMIT_NPROC].soft == 512,
	   "LimitNPROC= resets to the default");
	config_free(c);
	c = parse_good(BASE "[Socket]\nAccept=yes\n", "Accept=yes LimitNPROC default");
	ok(c && c->container.sandbox.rlimits[RLIMIT_NPROC].soft == 512,
	   "Accept=yes, MaxConnections=64: LimitNPROC default 512");
	config_free(c);
	c = parse_good(BASE "[Socket]\nAccept=yes\nMaxConnections=1000\n",
		       "Accept=yes MaxConnections=1000 LimitNPROC default");
	ok(c && c->container.sandbox.rlimits[RLIMIT_NPROC].soft == 4000 &&
	       c->container.sandbox.rlimits[RLIMIT_NPROC].hard == 4000,
	   "Accept=yes, MaxConnections=1000: LimitNPROC default 4000");
	config_free(c);
	c = parse_good(BASE "[Socket]\nAccept=yes\nMaxConnections=1000\n[Container]\n"
			    "LimitNPROC=100\n",
		       "Accept=yes explicit LimitNPROC");
	ok(c && c->container.sandbox.rlimits[RLIMIT_NPROC].soft == 100,
	   "an explicit LimitNPROC= wins over the Accept=yes default");
	config_free(c);
}

static void test_sandbox_errors(void)
{
	bad_key("Container", "PrivateUsers=maybe",
		"PrivateUsers=: invalid value 'maybe': expected yes, no, pick or UID[:COUNT]");
	bad_key("Container", "PrivateUsers=0:65536",
		"PrivateUsers=: '0:65536' maps the container's root to the host's root: use "
		"PrivateUsers=no, or a range of unprivileged uids");
	bad_key("Container", "PrivateUsers=100:0",
		"PrivateUsers=: invalid value '100:0': expected yes, no, pick or UID[:COUNT]");
	bad_key("Container", "PrivateUsers=4294967290:100",
		"PrivateUsers=: range '4294967290:100' goes past the last uid (4294967294)");
	bad_key("Container", "Capabilities=CAP_FLY",
		"Capabilities=: unknown capability 'CAP_FLY' (expected names like CAP_CHOWN)");
	bad_key("Container", "Capabilities=chown",
		"Capabilities=: unknown capability 'chown' (expected names like CAP_CHOWN)");
	bad_key("Container", "Capabilities='CAP_CHOWN",
		"Capabilities=: unterminated quote in ''CAP_CHOWN'");
	bad_key("Container", "NoNewPrivileges=sometimes",
		"NoNewPrivileges=: invalid boolean 'sometimes': expected yes or no");
	bad_key("Container", "SystemCallFilter=@nonsense",
		"SystemCallFilter=: unknown system call or group '@nonsense'");
	bad_key("Container", "SystemCallFilter=~frobnicate",
		"SystemCallFilter=: unknown system call or group 'frobnicate'");
	bad_key("Container", "SystemCallFilter=~",
		"SystemCallFilter=: '~' without any system call or @group");
	bad_key("Container", "SystemCallErrorNumber=EFOO",
		"SystemCallErrorNumber=: unknown error number 'EFOO' (expected a name like EPERM "
		"or 1-4095)");
	bad_key("Container", "SystemCallErrorNumber=5000",
		"SystemCallErrorNumber=: unknown error number '5000' (expected a name like EPERM "
		"or 1-4095)");
	bad_key("Container", "SystemCallArchitectures=x86",
		"SystemCallArchitectures=: 'x86' is not supported: only native (system calls of "
		"other architectures are refused)");
	bad_key("Container", "LimitNOFILE=lots",
		"LimitNOFILE=: invalid value 'lots': expected N, infinity or SOFT:HARD");
	bad_key("Container", "LimitNOFILE=100:10",
		"LimitNOFILE=: the soft limit of '100:10' is above its hard limit");
	bad_key("Container", "LimitAS=1Q",
		"LimitAS=: invalid value '1Q': expected N, infinity or SOFT:HARD");
	bad_key("Container", "MemoryMax=0",
		"MemoryMax=: invalid size '0': expected e.g. 512M, 2G or infinity (not 0)");
	bad_key("Container", "MemoryHigh=big",
		"MemoryHigh=: invalid size 'big': expected e.g. 512M, 2G or infinity (not 0)");
	bad_key("Container", "TasksMax=0",
		"TasksMax=: invalid value '0': expected a number from 1 or infinity");
	bad_key("Container", "CPUWeight=0",
		"CPUWeight=: invalid weight '0': expected a number from 1 to 10000");
	bad_key("Container", "IOWeight=10001",
		"IOWeight=: invalid weight '10001': expected a number from 1 to 10000");
	bad_key("Container", "CPUQuota=50",
		"CPUQuota=: invalid quota '50': expected a percentage of one CPU, e.g. 50% or "
		"200%");
}

static const char *pfmt(const struct netns_prefix *p)
{
	static char buf[4][64];
	static int i;

	i = (i + 1) % 4;
	return netns_prefix_format(p, buf[i], sizeof(buf[i]));
}

static void test_network_keys(void)
{
	struct service_config *c;

	c = good_key("Container", "Network=veth");
	ok(c && c->container.network == NETWORK_VETH, "Network=veth");
	if (c) {
		is_str(pfmt(&c->container.address_pool[0]), NETWORK_POOL_V4, "default IPv4 pool");
		is_str(pfmt(&c->container.address_pool[1]), NETWORK_POOL_V6, "default IPv6 pool");
		ok(!c->container.address[0].family && !c->container.host_address[1].family,
		   "no fixed address by default");
	}
	config_free(c);
	c = good_key("Container", "Network=shared-empty");
	ok(c && c->container.network == NETWORK_SHARED_EMPTY, "Network=shared-empty");
	config_free(c);
	c = good_key("Container", "Network=netns:blue-1.x@y");
	ok(c && c->container.network == NETWORK_NETNS &&
	       strcmp(c->container.netns_name, "blue-1.x@y") == 0,
	   "Network=netns:NAME");
	config_free(c);
	c = good_key("Container", "Network=netns:blue\nNetwork=host");
	ok(c && c->container.network == NETWORK_HOST && !c->container.netns_name,
	   "a later Network= drops the namespace name");
	config_free(c);
	c = good_key("Container", "Network=veth\nAddress=10.1.0.2\nHostAddress=10.1.0.1\n"
				  "Address=fd01::2/120\nHostAddress=fd01::1/120");
	if (c) {
		is_str(pfmt(&c->container.address[0]), "10.1.0.2/30", "Address= IPv4, /30 default");
		is_str(pfmt(&c->container.host_address[0]), "10.1.0.1/30", "HostAddress= IPv4");
		is_str(pfmt(&c->container.address[1]), "fd01::2/120", "Address= IPv6 with length");
		is_str(pfmt(&c->container.host_address[1]), "fd01::1/120", "HostAddress= IPv6");
	} else {
		ok(false, "Address=, HostAddress=");
	}
	config_free(c);
	c = good_key("Container", "Network=veth\nAddressPool=172.30.1.7/24\nAddressPool=fd02::/56");
	if (c) {
		is_str(pfmt(&c->container.address_pool[0]), "172.30.1.0/24",
		       "AddressPool= IPv4, host bits cleared");
		is_str(pfmt(&c->container.address_pool[1]), "fd02::/56", "AddressPool= IPv6");
	} else {
		ok(false, "AddressPool=");
	}
	config_free(c);
	c = good_key("Container",
		     "Network=veth\nAddress=10.1.0.2\nAddress=\nAddressPool=10.2.0.0/30"
		     "\nAddressPool=\nAddressPool=10.3.0.0/24");
	ok(c && !c->container.address[0].family &&
	       strcmp(pfmt(&c->container.address_pool[0]), "10.3.0.0/24") == 0,
	   "an empty Address=/AddressPool= resets");
	config_free(c);
	c = good_key("Container", "Network=veth\nBridge=br0\nAddress=192.168.5.20/24");
	ok(c && c->container.bridge && strcmp(c->container.bridge, "br0") == 0 &&
	       c->container.address[0].family,
	   "Bridge= with Address= and no HostAddress=");
	config_free(c);
	c = good_key(
	    "Container",
	    "Network=veth\nBridge=br0\nAddress=192.168.5.20/24\nHostAddress=192.168.5.1/24");
	ok(c && c->container.host_address[0].family, "Bridge= with a gateway HostAddress=");
	config_free(c);
}

#define NS_NAME_RULE "expected 1 to 64 letters, digits, '_', '.', '@' or '-', not starting with '.'"
#define ADDR_RULE    "expected an IPv4 or IPv6 address, optionally with /LENGTH"

static void test_network_errors(void)
{
	bad_key("Container",
		"Network=netns:", "Network=: invalid namespace name '': " NS_NAME_RULE);
	bad_key("Container", "Network=netns:a/b",
		"Network=: invalid namespace name 'a/b': " NS_NAME_RULE);
	bad_key("Container", "Network=netns:..",
		"Network=: invalid namespace name '..': " NS_NAME_RULE);
	bad_key("Container", "Address=10.1.0.300",
		"Address=: invalid address '10.1.0.300': " ADDR_RULE);
	bad_key("Container", "HostAddress=10.1.0.1/33",
		"HostAddress=: invalid address '10.1.0.1/33': " ADDR_RULE);
	bad_key("Container", "Address=db.example",
		"Address=: invalid address 'db.example': " ADDR_RULE);
	bad_key("Container", "Address=10.1.0.4",
		"Address=: '10.1.0.4' is the network or broadcast address of its subnet");
	bad_key("Container", "HostAddress=10.1.0.7/30",
		"HostAddress=: '10.1.0.7/30' is the network or broadcast address of its subnet");
	bad_key("Container", "AddressPool=10.0.0.0",
		"AddressPool=: invalid pool '10.0.0.0': expected IPv4/LENGTH or IPv6/LENGTH");
	bad_key("Container", "AddressPool=10.0.0.0/31",
		"AddressPool=: pool '10.0.0.0/31' too small: it must hold a /30 (at most /30)");
	bad_key("Container", "AddressPool=fd00::/80",
		"AddressPool=: pool 'fd00::/80' too small: it must hold a /64 (at most /64)");
	parse_bad(BASE "[Container]\nNetwork=veth\nAddress=10.1.0.2\nAddress=10.1.0.6\n"
		       "HostAddress=10.1.0.1\n",
		  "a second IPv4 Address=",
		  "t.conf:8: Address=: a second IPv4 value '10.1.0.6': one per family (an empty "
		  "Address= resets)",
		  NULL);
	bad_key("Container", "Bridge=a-very-long-bridge",
		"Bridge=: invalid interface name 'a-very-long-bridge': 1 to 15 characters, no '/', "
		"':' or spaces");
	bad_key("Container", "Bridge=br:0",
		"Bridge=: invalid interface name 'br:0': 1 to 15 characters, no '/', ':' or "
		"spaces");
	parse_bad(BASE "[Container]\nAddress=10.1.0.2\nHostAddress=10.1.0.1\n",
		  "Address= without Network=veth",
		  "t.conf: Address=, HostAddress= or AddressPool= is set but Network= is not veth",
		  NULL);
	parse_bad(BASE "[Container]\nNetwork=netns:x\nBridge=br0\n", "Bridge= without veth",
		  "t.conf: Bridge= is set but Network= is not veth", NULL);
	parse_bad(BASE "[Container]\nNetwork=veth\nAddress=10.1.0.2\n", "Address= alone",
		  "t.conf: Address=10.1.0.2/30 needs an IPv4 HostAddress= (or Bridge=)", NULL);
	parse_bad(BASE "[Container]\nNetwork=veth\nHostAddress=fd00::1\n", "HostAddress= alone",
		  "t.conf: HostAddress=fd00::1/64 needs an IPv6 Address=", NULL);
	parse_bad(BASE "[Container]\nNetwork=veth\nAddress=10.1.0.2\nHostAddress=10.1.0.9\n",
		  "two subnets",
		  "t.conf: Address=10.1.0.2/30 and HostAddress=10.1.0.9/30 must be two addresses "
		  "of one subnet",
		  NULL);
	parse_bad(BASE "[Container]\nNetwork=veth\nAddress=10.1.0.2/24\nHostAddress=10.1.0.1\n",
		  "two lengths",
		  "t.conf: Address=10.1.0.2/24 and HostAddress=10.1.0.1/30 must be two addresses "
		  "of one subnet",
		  NULL);
	parse_bad(BASE "[Container]\nNetwork=veth\nAddress=10.1.0.2\nHostAddress=10.1.0.2\n",
		  "the same address twice",
		  "t.conf: Address=10.1.0.2/30 and HostAddress=10.1.0.2/30 must be two addresses "
		  "of one subnet",
		  NULL);
}

static void test_service_keys(void)
{
	struct service_config *c;

	c = good_key("Service", "StopTimeoutSec=1min 30s\nKillSignal=SIGINT\n"
				"StartLimitIntervalSec=1h\nStartLimitBurst=10000");
	if (c) {
		ok(c->service.stop_timeout == 90 * USEC_PER_SEC, "StopTimeoutSec=1min 30s");
		is_int(c->service.kill_signal, SIGINT, "KillSignal=SIGINT");
		ok(c->service.start_limit_interval == 3600 * USEC_PER_SEC,
		   "StartLimitIntervalSec=1h");
		is_int(c->service.start_limit_burst, 10000, "StartLimitBurst=10000");
	}
	config_free(c);
	c = good_key("Service", "StopTimeoutSec=infinity\nKillSignal=9\nStartLimitIntervalSec=0\n"
				"StartLimitBurst=1");
	if (c) {
		ok(c->service.stop_timeout == USEC_INFINITY, "StopTimeoutSec=infinity");
		is_int(c->service.kill_signal, SIGKILL, "KillSignal=9");
		ok(c->service.start_limit_interval == 0, "StartLimitIntervalSec=0");
		is_int(c->service.start_limit_burst, 1, "StartLimitBurst=1");
	}
	config_free(c);

	bad_key("Service", "StopTimeoutSec=ten",
		"StopTimeoutSec=: invalid duration 'ten': expected e.g. 10s, 500ms, 1min 30s or "
		"infinity");
	bad_key("Service", "StopTimeoutSec=0",
		"StopTimeoutSec=: must not be 0 (use infinity to wait forever)");
	bad_key(
	    "Service", "KillSignal=SIGFOO",
	    "KillSignal=: invalid signal 'SIGFOO': expected a name like SIGTERM or a number 1-64");
	bad_key("Service", "KillSignal=0",
		"KillSignal=: invalid signal '0': expected a name like SIGTERM or a number 1-64");
	bad_key("Service", "StartLimitIntervalSec=-1",
		"StartLimitIntervalSec=: invalid duration '-1': expected e.g. 10s, 500ms, 1min 30s "
		"or infinity");
	c = good_key("Socket", "TriggerLimitIntervalSec=500ms\nTriggerLimitBurst=7");
	if (c) {
		ok(c->socket.trigger_limit_interval == 500 * USEC_PER_MSEC,
		   "TriggerLimitIntervalSec=500ms");
		is_int(c->socket.trigger_limit_burst, 7, "TriggerLimitBurst=7");
	}
	config_free(c);
	c = good_key("Socket", "TriggerLimitBurst=7\nTriggerLimitBurst=");
	if (c)
		is_int(c->socket.trigger_limit_burst, 200, "TriggerLimitBurst= resets to 200");
	config_free(c);
	bad_key("Socket", "TriggerLimitBurst=0",
		"TriggerLimitBurst=: invalid value '0': expected a number from 1 to 10000");
	bad_key("Socket", "TriggerLimitIntervalSec=soon",
		"TriggerLimitIntervalSec=: invalid duration 'soon': expected e.g. 10s, 500ms, 1min "
		"30s or infinity");
	bad_key("Service", "StartLimitBurst=0",
		"StartLimitBurst=: invalid value '0': expected a number from 1 to 10000");
	bad_key("Service", "StartLimitBurst=10001",
		"StartLimitBurst=: invalid value '10001': expected a number from 1 to 10000");
	c = good_key("Service", "IdleFreezeSec=5s\nIdleStopSec=1min\nIdleCPUPercent=0.5%\n"
				"IdleConnections=traffic");
	if (c) {
		ok(c->service.idle_freeze == 5 * USEC_PER_SEC, "IdleFreezeSec=5s");
		ok(c->service.idle_stop == 60 * USEC_PER_SEC, "IdleStopSec=1min");
		is_int(c->service.idle_cpu_centi, 50, "IdleCPUPercent=0.5%%");
		is_int(c->service.idle_connections, IDLE_CONNECTIONS_TRAFFIC,
		       "IdleConnections=traffic");
	}
	config_free(c);
	c = good_key("Service", "IdleStopSec=infinity\nIdleCPUPercent=250\nIdleConnections=count");
	if (c) {
		ok(c->service.idle_stop == 0, "IdleStopSec=infinity means never (0)");
		is_int(c->service.idle_cpu_centi, 25000, "IdleCPUPercent=250");
		is_int(c->service.idle_connections, IDLE_CONNECTIONS_COUNT,
		       "IdleConnections=count");
	}
	config_free(c);
	bad_key("Service", "IdleCPUPercent=lots",
		"IdleCPUPercent=: invalid value 'lots': expected a percentage of one CPU, e.g. 1%, "
		"0.5% or 150% (at most 100000%, two decimals)");
	bad_key(
	    "Service", "IdleCPUPercent=1.234%",
	    "IdleCPUPercent=: invalid value '1.234%': expected a percentage of one CPU, e.g. 1%, "
	    "0.5% or 150% (at most 100000%, two decimals)");
	bad_key("Service", "IdleConnections=some",
		"IdleConnections=: invalid value 'some': expected count or traffic");
	bad_key("Service", "IdleStopSec=soon",
		"IdleStopSec=: invalid duration 'soon': expected e.g. 10s, 500ms, 1min 30s or "
		"infinity");
	bad_key("Service", "Bogus=1", "unknown key 'Bogus' in section [Service]");
}

static void test_reset_and_last_wins(void)
{
	struct service_config *c;

	c = parse_good("[Socket]\nListenStream=80\nListenDatagram=81\nListenStream=\n"
		       "ListenStream=82\n[Container]\nExec=/bin/false\nExec=/bin/true x\n"
		       "Environment=A=1\nEnvironment=\nEnvironment=B=2\n"
		       "Bind=/a\nBindReadOnly=/b\nBind=\nBind=/c\n"
		       "TemporaryFileSystem=/t\nTemporaryFileSystem=\nTemporaryFileSystem=/u\n"
		       "User=a\nUser=\nHostname=x\nHostname=y\nReadOnly=no\nReadOnly=\n"
		       "Network=host\nNetwork=\n"
		       "[Socket]\nBacklog=5\nBacklog=6\nFileDescriptorName=a\nFileDescriptorName=\n"
		       "SocketMode=0600\nSocketMode=\n"
		       "[Service]\nKillSignal=SIGINT\nKillSignal=\nStartLimitBurst=7\n",
		       "resets and repeats");
	if (!c)
		return;
	is_int(c->socket.n_listen, 1, "ListenStream= empty resets every Listen*=");
	is_str(c->socket.listen[0].text, "82", "the one after the reset stays");
	ok(strv_equal(c->container.exec, (char *[]){"/bin/true", "x", NULL}), "last Exec= wins");
	ok(strv_equal(c->container.environment, (char *[]){"B=2", NULL}), "Environment= resets");
	ok(c->container.n_binds == 1 && !strcmp(c->container.binds[0].source, "/c"),
	   "Bind= empty resets Bind= and BindReadOnly=");
	ok(c->container.n_tmpfs == 1 && !strcmp(c->container.tmpfs[0].target, "/u"),
	   "TemporaryFileSystem= resets");
	ok(!c->container.user, "User= empty resets");
	is_str(c->container.hostname, "y", "last Hostname= wins");
	ok(c->container.read_only, "ReadOnly= empty resets to yes");
	is_int(c->container.network, NETWORK_NONE, "Network= empty resets");
	is_int(c->socket.backlog, 6, "last Backlog= wins");
	is_str(c->socket.fd_name, "web", "FileDescriptorName= empty resets to the name");
	is_int(c->socket.socket_mode, 0666, "SocketMode= empty resets");
	is_int(c->service.kill_signal, SIGTERM, "KillSignal= empty resets");
	is_int(c->service.start_limit_burst, 7, "StartLimitBurst=7");
	config_free(c);
}

static void test_syntax(void)
{
	struct service_config *c;
	char *longline;

	c = parse_good("\xef\xbb\xbf# comment\n; also a comment\n\n   \n[Socket]\r\n"
		       "  ListenStream = 80  \r\n#ListenStream=81\n[Container]\n"
		       "Exec=/bin/echo # not a comment ; nor this\n",
		       "BOM, comments, CRLF, blanks, spaces around = ");
	if (c) {
		is_int(c->socket.n_listen, 1, "the commented-out address is not there");
		ok(strv_equal(c->container.exec, (char *[]){"/bin/echo", "#", "not", "a", "comment",
							    ";", "nor", "this", NULL}),
		   "no inline comments");
	}
	config_free(c);

	c = parse_good("[Socket]\nListenStream=80\n[Container]\nExec=/bin/true",
		       "no final newline");
	config_free(c);

	parse_bad("ListenStream=80\n" BASE, "key before any section",
		  "t.conf:1: ListenStream=: assignment outside of any section (expected [Socket], "
		  "[Container] or [Service] first)",
		  NULL);
	parse_bad(BASE "[Bogus]\nFoo=1\nBar=2\n[Service]\nNope=1\n", "unknown section",
		  "t.conf:5: unknown section [Bogus] (expected [Socket], [Container] or [Service])",
		  "t.conf:9: unknown key 'Nope' in section [Service]", NULL);
	parse_bad(
	    BASE "[socket]\nListenStream=81\n", "sections are case-sensitive",
	    "t.conf:5: unknown section [socket] (expected [Socket], [Container] or [Service])",
	    NULL);
	parse_bad(BASE "[Socket\nFoo=1\n[]\n[a]b]\n", "malformed section headers",
		  "t.conf:5: invalid section header '[Socket': expected [Section]",
		  "t.conf:7: invalid section header '[]': expected [Section]",
		  "t.conf:8: invalid section header '[a]b]': expected [Section]", NULL);
	parse_bad(BASE "[Socket] x\n", "text after a section header",
		  "t.conf:5: invalid section header '[Socket] x': expected [Section]", NULL);
	parse_bad(BASE "just words\n=value\nKey: value\nKey:x=1\n", "not Key=value",
		  "t.conf:5: expected Key=value or [Section], got 'just words'",
		  "t.conf:6: expected Key=value or [Section], got '=value'",
		  "t.conf:7: expected Key=value or [Section], got 'Key: value'",
		  "t.conf:8: expected Key=value or [Section], got 'Key:x=1'", NULL);
	parse_bad(BASE "  indented continuation\n", "no continuation lines",
		  "t.conf:5: expected Key=value or [Section], got 'indented continuation'", NULL);

	/* Line length: CONFIG_MAX_LINE bytes pass, one more does not. */
	longline = malloc(CONFIG_MAX_LINE + 64);
	if (!longline)
		abort();
	{
		_cleanup_free_ char *text = NULL;
		size_t prefix = strlen("Environment=A=");

		memcpy(longline, "Environment=A=", prefix);
		memset(longline + prefix, 'x', CONFIG_MAX_LINE - prefix);
		longline[CONFIG_MAX_LINE] = '\0';
		if (asprintf(&text, BASE "%s\n", longline) < 0)
			abort();
		c = parse_good(text, "a line of exactly CONFIG_MAX_LINE bytes");
		ok(c && strlen(c->container.environment[0]) == CONFIG_MAX_LINE - 12,
		   "the long value is complete");
		config_free(c);
		free(text);
		longline[CONFIG_MAX_LINE] = 'x';
		longline[CONFIG_MAX_LINE + 1] = '\0';
		if (asprintf(&text, BASE "%s\nFoo=1\n", longline) < 0)
			abort();
		parse_bad(text, "a line of CONFIG_MAX_LINE + 1 bytes",
			  "t.conf:5: line too long (more than 4096 bytes)",
			  "t.conf:6: unknown key 'Foo' in section [Container]", NULL);
		free(text);
		/* CRLF does not count. */
		longline[CONFIG_MAX_LINE] = '\0';
		if (asprintf(&text, BASE "%s\r\n", longline) < 0)
			abort();
		c = parse_good(text, "a line of CONFIG_MAX_LINE bytes and CRLF");
		config_free(c);
	}
	free(longline);

	/* The file size limit. */
	{
		size_t n = CONFIG_MAX_FILE_SIZE + 1;
		char *big = malloc(n + 1);
		struct config_errors errs = {0};

		if (!big)
			abort();
		memset(big, '\n', n);
		big[n] = '\0';
		c = NULL;
		is_int(config_parse_string(big, "t.conf", "web", &errs, &c), -EFBIG,
		       "a file over CONFIG_MAX_FILE_SIZE");
		ok(errs.n == 1 &&
		       !strcmp(errs.messages[0], "t.conf: file too big (more than 1048576 bytes)"),
		   "file too big message");
		config_errors_clear(&errs);
		big[n - 1] = '\0';
		memcpy(big, BASE, strlen(BASE));
		c = parse_good(big, "a file of exactly CONFIG_MAX_FILE_SIZE bytes");
		config_free(c);
		free(big);
	}
}

static void test_required(void)
{
	parse_bad("[Socket]\nListenStream=80\n", "no Exec=", "t.conf: Exec= is missing", NULL);
	parse_bad(BASE "[Service]\nIdleFreezeSec=1min\nIdleStopSec=30s\n", "freeze after stop",
		  "t.conf: IdleStopSec= must be longer than IdleFreezeSec= (a container is frozen "
		  "first, then stopped)",
		  NULL);
	parse_bad("[Container]\nExec=/bin/true\n", "no Listen*=", "t.conf: no Listen*= address",
		  NULL);
	parse_bad("", "empty file", "t.conf: Exec= is missing", "t.conf: no Listen*= address",
		  NULL);
	parse_bad(BASE "[Socket]\nListenStream=\n[Container]\nExec=\n", "reset required keys",
		  "t.conf: Exec= is missing", "t.conf: no Listen*= address", NULL);
	parse_bad("[Socket]\nListenStream=0\n[Container]\nExec=\"x\n", "errors then missing",
		  "t.conf:2: ListenStream=: invalid address '0': port out of range",
		  "t.conf:4: Exec=: unterminated quote in '\"x'", "t.conf: Exec= is missing",
		  "t.conf: no Listen*= address", NULL);
}

static void test_duplicates_in_file(void)
{
	struct service_config *c;

	parse_bad(BASE "[Socket]\nListenStream=127.0.0.1:80\nListenStream=127.0.0.1:80\n",
		  "same address twice",
		  "t.conf:7: ListenStream=: duplicate address '127.0.0.1:80', already given on "
		  "line 6",
		  NULL);
	parse_bad(BASE "[Socket]\nListenStream=0.0.0.0:8080\n", "bare port vs IPv4",
		  "t.conf:6: ListenStream=: address '0.0.0.0:8080' conflicts with "
		  "ListenStream=8080 on line 2",
		  NULL);
	parse_bad(BASE "[Socket]\nListenStream=[::]:8080\n", "bare port vs [::]",
		  "t.conf:6: ListenStream=: address '[::]:8080' conflicts with ListenStream=8080 "
		  "on line 2",
		  NULL);
	parse_bad(BASE "[Socket]\nListenDatagram=/run/x\nListenStream=/run/x\n",
		  "unix path with two types",
		  "t.conf:7: ListenStream=: address '/run/x' conflicts with ListenDatagram=/run/x "
		  "on line 6",
		  NULL);
	c = parse_good(BASE "[Socket]\nListenDatagram=8080\nListenStream=127.0.0.1:8081\n"
			    "ListenStream=@a\nListenStream=/a\nListenStream=127.0.0.2:8081\n",
		       "no conflicts: UDP vs TCP, other port, abstract vs path, other address");
	ok(c && c->socket.n_listen == 6, "six listeners");
	config_free(c);
	c = parse_good(BASE "[Socket]\nListenStream=\nListenStream=8080\n",
		       "the same address after a reset");
	config_free(c);
}

static void test_limits(void)
{
	_cleanup_free_ char *text = NULL;
	size_t size = 1 << 20, pos;
	char m[256];

	text = malloc(size);
	if (!text)
		abort();

	/* CONFIG_MAX_LISTEN listeners, then one more. */
	pos = (size_t)snprintf(text, size, "[Container]\nExec=/bin/true\n[Socket]\n");
	for (int i = 0; i <= CONFIG_MAX_LISTEN; i++)
		pos += (size_t)snprintf(text + pos, size - pos, "ListenStream=%d\n", 1000 + i);
	snprintf(m, sizeof(m), "t.conf:%d: ListenStream=: too many listen addresses (at most %d)",
		 4 + CONFIG_MAX_LISTEN, CONFIG_MAX_LISTEN);
	parse_bad(text, "too many listeners", m, NULL);

	/* CONFIG_MAX_ENV variables, then one more. */
	pos = (size_t)snprintf(text, size, BASE);
	for (int i = 0; i <= CONFIG_MAX_ENV; i++)
		pos += (size_t)snprintf(text + pos, size - pos, "Environment=V%d=1\n", i);
	snprintf(m, sizeof(m), "t.conf:%d: Environment=: too many variables (at most %d)",
		 5 + CONFIG_MAX_ENV, CONFIG_MAX_ENV);
	parse_bad(text, "too many variables", m, NULL);
	/* Replacing a variable does not count twice. */
	pos = (size_t)snprintf(text, size, BASE);
	for (int i = 0; i < CONFIG_MAX_ENV + 10; i++)
		pos += (size_t)snprintf(text + pos, size - pos, "Environment=V%d=1\n",
					i % CONFIG_MAX_ENV);
	{
		struct service_config *c = parse_good(text, "replacing at the limit");

		ok(c && strv_length(c->container.environment) == CONFIG_MAX_ENV,
		   "CONFIG_MAX_ENV variables");
		config_free(c);
	}

	/* CONFIG_MAX_BINDS mounts of all three kinds, then one more. */
	pos = (size_t)snprintf(text, size, BASE);
	for (int i = 0; i < CONFIG_MAX_BINDS; i++)
		pos += (size_t)snprintf(text + pos, size - pos, "%s=/m%d\n",
					i % 3 == 0   ? "Bind"
					: i % 3 == 1 ? "BindReadOnly"
						     : "TemporaryFileSystem",
					i);
	pos += (size_t)snprintf(text + pos, size - pos, "TemporaryFileSystem=/last\n");
	snprintf(m, sizeof(m),
		 "t.conf:%d: TemporaryFileSystem=: too many mounts (at most %d Bind=, "
		 "BindReadOnly= and TemporaryFileSystem= together)",
		 5 + CONFIG_MAX_BINDS, CONFIG_MAX_BINDS);
	parse_bad(text, "too many mounts", m, NULL);

	/* CONFIG_MAX_ERRORS errors, then "too many errors". */
	{
		struct config_errors errs = {0};
		struct service_config *c = NULL;

		pos = (size_t)snprintf(text, size, BASE "[Socket]\n");
		for (int i = 0; i < CONFIG_MAX_ERRORS + 20; i++)
			pos += (size_t)snprintf(text + pos, size - pos, "Backlog=0\n");
		is_int(config_parse_string(text, "t.conf", "web", &errs, &c), -EINVAL,
		       "many errors fail");
		is_int(errs.n, CONFIG_MAX_ERRORS + 1, "CONFIG_MAX_ERRORS messages and one more");
		is_str(errs.n ? errs.messages[errs.n - 1] : NULL,
		       "t.conf: too many errors (more than 64), giving up", "the last message");
		is_str(errs.n ? errs.messages[CONFIG_MAX_ERRORS - 1] : NULL,
		       "t.conf:69: Backlog=: invalid value '0': expected a number from 1 to 65535",
		       "the 64th error");
		config_errors_clear(&errs);
	}
}

static void test_equal(void)
{
	static const char *const variants[] = {
	    "[Socket]\nListenStream=81\n",
	    "[Socket]\nListenDatagram=8080\n",
	    "[Socket]\nBacklog=10\n",
	    "[Socket]\nFileDescriptorName=x\n",
	    "[Socket]\nBindIPv6Only=both\n",
	    "[Socket]\nReusePort=yes\n",
	    "[Socket]\nFreeBind=yes\n",
	    "[Socket]\nDeferAcceptSec=1\n",
	    "[Socket]\nSocketMode=0600\n",
	    "[Socket]\nSocketUser=a\n",
	    "[Socket]\nSocketGroup=a\n",
	    "[Socket]\nAccept=yes\n",
	    "[Socket]\nAccept=yes\nMaxConnections=3\n",
	    "[Socket]\nAccept=yes\nMaxConnectionsPerSource=3\n",
	    "[Socket]\nAccept=yes\nMaxConnectionsPerSourceIPv6Prefix=56\n",
	    "[Socket]\nAccept=yes\n[Container]\nStandardInput=socket\n",
	    "[Socket]\nAccept=yes\n[Container]\nPoolSize=2\n",
	    "[Socket]\nAccept=yes\n[Service]\nRuntimeMaxSec=5s\n",
	    "[Container]\nDirectory=/srv\n",
	    "[Container]\nExec=/bin/true x\n",
	    "[Container]\nWorkingDirectory=/srv\n",
	    "[Container]\nEnvironment=A=1\n",
	    "[Container]\nUser=a\n",
	    "[Container]\nGroup=a\n",
	    "[Container]\nHostname=x\n",
	    "[Container]\nBind=/a\n",
	    "[Container]\nBindReadOnly=/a\n",
	    "[Container]\nBind=-/a\n",
	    "[Container]\nBind=/a:/b\n",
	    "[Container]\nTemporaryFileSystem=/a\n",
	    "[Container]\nTemporaryFileSystem=/a:size=1M\n",
	    "[Container]\nReadOnly=no\n",
	    "[Container]\nNetwork=host\n",
	    "[Service]\nStopTimeoutSec=5\n",
	    "[Service]\nKillSignal=SIGINT\n",
	    "[Service]\nStartLimitIntervalSec=5\n",
	    "[Service]\nStartLimitBurst=6\n",
	};
	struct config_errors errs = {0};
	struct service_config *a = NULL, *b = NULL;

	config_parse_string(BASE, "a.conf", "web", &errs, &a);
	config_parse_string("# a comment moves the lines\n[Socket]\nListenStream=08080\n"
			    "[Container]\nExec=\"/bin/true\"\n",
			    "b.conf", "web", &errs, &b);
	ok(a && b && config_equal(a, b), "same meaning, other spelling and lines: equal");
	ok(a && b && config_listen_equal(&a->socket.listen[0], &b->socket.listen[0]),
	   "listen equal");
	ok(config_equal(a, a) && config_equal(NULL, NULL) && !config_equal(a, NULL),
	   "equal: identity and NULL");
	config_free(b);
	b = NULL;
	config_parse_string(BASE, "a.conf", "other", &errs, &b);
	ok(b && !config_equal(a, b), "another name: not equal");
	config_free(b);

	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		_cleanup_free_ char *text = NULL;

		b = NULL;
		if (asprintf(&text, BASE "%s", variants[i]) < 0)
			abort();
		config_parse_string(text, "a.conf", "web", &errs, &b);
		ok(b && !config_equal(a, b) && !config_equal(b, a), "differs: %.*s",
		   (int)strcspn(variants[i] + strcspn(variants[i], "\n") + 1, "\n"),
		   variants[i] + strcspn(variants[i], "\n") + 1);
		config_free(b);
	}
	is_int(errs.n, 0, "no errors in the variants");
	config_errors_clear(&errs);

	{
		struct listen_config x = {.type = LISTEN_STREAM}, y = {.type = LISTEN_DATAGRAM};

		socket_address_parse("127.0.0.1:80", &x.address);
		socket_address_parse("127.0.0.1:80", &y.address);
		ok(!config_listen_equal(&x, &y), "listen: another type differs");
		y.type = LISTEN_STREAM;
		ok(config_listen_equal(&x, &y), "listen: same type and address");
		socket_address_parse("127.0.0.1:81", &y.address);
		ok(!config_listen_equal(&x, &y), "listen: another port differs");
	}
	config_free(a);
}

/* config_load_dir() on a temporary directory. */

static char tmpdir[] = "/tmp/test-config.XXXXXX";

static void write_file(const char *name, const char *text)
{
	_cleanup_free_ char *path = NULL;
	FILE *f;

	if (asprintf(&path, "%s/%s", tmpdir, name) < 0)
		abort();
	f = fopen(path, "we");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
}

static void test_load_dir(void)
{
	struct config_errors errs = {0};
	struct service_config **a = NULL;
	size_t n = 0;
	char m[4][512];
	_cleanup_free_ char *sub = NULL, *link = NULL;
	int r;

	if (!mkdtemp(tmpdir))
		abort();

	r = config_load_dir(tmpdir, &errs, &a, &n);
	ok(r == 0 && n == 0 && errs.n == 0, "an empty directory");
	config_free_array(a, n);

	write_file("b-web.conf", "[Socket]\nListenStream=127.0.0.1:8080\n[Container]\n"
				 "Exec=/bin/true\n");
	write_file("a-api.conf", "[Socket]\nListenStream=8081\n[Container]\nExec=/bin/true\n");
	write_file("c-dup.conf", "[Socket]\nListenStream=127.0.0.2:9\nListenStream=8080\n"
				 "[Container]\nExec=/bin/true\n");
	write_file("d-dup6.conf",
		   "[Socket]\nListenStream=[::1]:8081\n[Container]\nExec=/bin/true\n");
	write_file("e-udp.conf", "[Socket]\nListenDatagram=8081\n[Container]\nExec=/bin/true\n");
	write_file("f-bad.conf", "[Socket]\nListenStream=8090\nBacklog=0\n[Container]\n"
				 "Exec=/bin/true\n");
	write_file("g-after-bad.conf",
		   "[Socket]\nListenStream=8090\n[Container]\nExec=/bin/true\n");
	write_file("bad name.conf", "[Socket]\nListenStream=8091\n[Container]\nExec=/bin/true\n");
	write_file(".hidden.conf", "garbage\n");
	write_file("notes.txt", "garbage\n");
	write_file("x.conf.bak", "garbage\n");
	write_file("h-unix.conf",
		   "[Socket]\nListenStream=/run/h.sock\n[Container]\nExec=/bin/true\n");
	write_file("i-unix.conf", "[Socket]\nListenDatagram=/run/h.sock\n[Container]\n"
				  "Exec=/bin/true\n");
	if (asprintf(&sub, "%s/sub.conf", tmpdir) < 0 || mkdir(sub, 0755) < 0)
		abort();
	if (asprintf(&link, "%s/j-link.conf", tmpdir) < 0)
		abort();
	if (symlink("a-api.conf", link) < 0)
		abort();

	r = config_load_dir(tmpdir, &errs, &a, &n);
	is_int(r, 0, "load_dir");
	is_int(n, 5, "five good services");
	if (n == 5) {
		is_str(a[0]->name, "a-api", "sorted: a-api");
		is_str(a[1]->name, "b-web", "sorted: b-web");
		is_str(a[2]->name, "e-udp", "UDP 8081 does not collide with TCP 8081");
		is_str(a[3]->name, "g-after-bad", "a bad file does not reserve its addresses");
		is_str(a[4]->name, "h-unix", "h-unix (i-unix and j-link collide)");
	}
	snprintf(m[0], sizeof(m[0]),
		 "%s/c-dup.conf:3: ListenStream=: address '8080' is already used by service "
		 "'b-web' (%s/b-web.conf:2: ListenStream=127.0.0.1:8080)",
		 tmpdir, tmpdir);
	snprintf(m[1], sizeof(m[1]),
		 "%s/d-dup6.conf:2: ListenStream=: address '[::1]:8081' is already used by "
		 "service 'a-api' (%s/a-api.conf:2: ListenStream=8081)",
		 tmpdir, tmpdir);
	snprintf(m[2], sizeof(m[2]),
		 "%s/f-bad.conf:3: Backlog=: invalid value '0': expected a number from 1 to 65535",
		 tmpdir);
	snprintf(m[3], sizeof(m[3]),
		 "%s/i-unix.conf:2: ListenDatagram=: address '/run/h.sock' is already used by "
		 "service 'h-unix' (%s/h-unix.conf:2: ListenStream=/run/h.sock)",
		 tmpdir, tmpdir);
	{
		_cleanup_free_ char *badname = NULL, *linkdup = NULL;

		if (asprintf(&badname,
			     "%s/bad name.conf: invalid service name 'bad name': expected 1-64 "
			     "letters, digits, '_', '.', '@' or '-'",
			     tmpdir) < 0 ||
		    asprintf(&linkdup,
			     "%s/j-link.conf:2: ListenStream=: address '8081' is already used by "
			     "service 'a-api' (%s/a-api.conf:2: ListenStream=8081)",
			     tmpdir, tmpdir) < 0)
			abort();
		char *expect[] = {badname, m[0], m[1], m[2], m[3], linkdup, NULL};

		ok(strv_equal(errs.messages, expect), "load_dir errors, in name order");
		if (!strv_equal(errs.messages, expect)) {
			STRV_FOREACH (e, expect)
				printf("#   expected: %s\n", *e);
			for (size_t i = 0; i < errs.n; i++)
				printf("#   got:      %s\n", errs.messages[i]);
		}
	}
	config_free_array(a, n);
	config_errors_clear(&errs);

	a = NULL;
	n = 99;
	r = config_load_dir("/nonexistent-nsinetd-dir", &errs, &a, &n);
	is_int(r, -ENOENT, "a missing directory is -ENOENT");
	ok(errs.n == 0 && n == 99, "and nothing else");

	/* config_parse_file() on what cannot be read. */
	{
		struct service_config *c = NULL;
		_cleanup_free_ char *expect = NULL;

		r = config_parse_file(sub, "sub", &errs, &c);
		is_int(r, -EINVAL, "a directory is no configuration file");
		if (asprintf(&expect, "%s: not a regular file", sub) < 0)
			abort();
		is_str(errs.n ? errs.messages[0] : NULL, expect, "not a regular file message");
		config_errors_clear(&errs);
		r = config_parse_file("/nonexistent.conf", "x", &errs, &c);
		is_int(r, -ENOENT, "a missing file");
		is_str(errs.n ? errs.messages[0] : NULL,
		       "/nonexistent.conf: cannot open: No such file or directory",
		       "missing file message");
		config_errors_clear(&errs);
	}

	/* Clean up. */
	{
		static const char *const files[] = {
		    "b-web.conf", "a-api.conf",       "c-dup.conf",    "d-dup6.conf",  "e-udp.conf",
		    "f-bad.conf", "g-after-bad.conf", "bad name.conf", ".hidden.conf", "notes.txt",
		    "x.conf.bak", "h-unix.conf",      "i-unix.conf",   "j-link.conf",
		};
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			_cleanup_free_ char *p = NULL;

			if (asprintf(&p, "%s/%s", tmpdir, files[i]) >= 0)
				unlink(p);
		}
		rmdir(sub);
		ok(rmdir(tmpdir) == 0, "temporary directory removed");
	}
}

static void test_listen_type_to_string(void)
{
	is_str(listen_type_to_string(LISTEN_STREAM), "ListenStream", "ListenStream");
	is_str(listen_type_to_string(LISTEN_DATAGRAM), "ListenDatagram", "ListenDatagram");
	is_str(listen_type_to_string(LISTEN_SEQPACKET), "ListenSequentialPacket",
	       "ListenSequentialPacket");
}

/* BASE with Accept=yes, plus a section. */
#define ACCEPT_BASE BASE "[Socket]\nAccept=yes\n"

static struct service_config *accept_key(const char *section, const char *line)
{
	_cleanup_free_ char *text = NULL;

	if (asprintf(&text, ACCEPT_BASE "[%s]\n%s\n", section, line) < 0)
		abort();
	return parse_good(text, line);
}

/* ACCEPT_BASE + "[section]\nline\n": one error, on line 8. */
static void accept_bad_key(const char *section, const char *line, const char *message)
{
	_cleanup_free_ char *text = NULL, *full = NULL;

	if (asprintf(&text, ACCEPT_BASE "[%s]\n%s\n", section, line) < 0 ||
	    asprintf(&full, "t.conf:8: %s", message) < 0)
		abort();
	parse_bad(text, line, full, NULL);
}

static void test_accept(void)
{
	struct service_config *c;

	/* Defaults, with and without Accept=yes. */
	c = parse_good(BASE, "Accept=no defaults");
	if (c) {
		is_int(c->socket.max_connections, 0, "Accept=no: MaxConnections unused");
		is_int(c->socket.max_connections_per_source, 0, "MaxConnectionsPerSource off");
		is_int(c->socket.trigger_limit_burst, 200, "Accept=no: TriggerLimitBurst 200");
		is_int(c->container.standard_input, STANDARD_INPUT_FD, "StandardInput=fd");
		is_int(c->container.pool_size, 0, "PoolSize 0");
		ok(c->service.runtime_max == USEC_INFINITY, "RuntimeMaxSec infinity");
	}
	config_free(c);
	c = parse_good(ACCEPT_BASE, "Accept=yes defaults");
	if (c) {
		ok(c->socket.accept, "Accept=yes");
		is_int(c->socket.max_connections, 64, "MaxConnections default 64");
		is_int(c->socket.max_connections_per_source, 0, "MaxConnectionsPerSource off");
		is_int(c->socket.per_source_ipv6_prefix, 64,
		       "MaxConnectionsPerSourceIPv6Prefix default 64");
		is_int(c->socket.trigger_limit_burst, 2000, "Accept=yes: TriggerLimitBurst 2000");
		ok(c->service.runtime_max == USEC_INFINITY, "RuntimeMaxSec infinity");
	}
	config_free(c);

	c = accept_key("Socket", "MaxConnections=1");
	ok(c && c->socket.max_connections == 1, "MaxConnections=1");
	config_free(c);
	c = accept_key("Socket", "MaxConnections=4096");
	ok(c && c->socket.max_connections == 4096, "MaxConnections=4096");
	config_free(c);
	c = accept_key("Socket", "MaxConnections=");
	ok(c && c->socket.max_connections == 64, "MaxConnections= resets to 64");
	config_free(c);
	c = accept_key("Socket", "MaxConnectionsPerSource=3");
	ok(c && c->socket.max_connections_per_source == 3, "MaxConnectionsPerSource=3");
	config_free(c);
	c = accept_key("Socket", "MaxConnectionsPerSource=0");
	ok(c && c->socket.max_connections_per_source == 0, "MaxConnectionsPerSource=0");
	config_free(c);
	c = accept_key("Socket", "MaxConnectionsPerSourceIPv6Prefix=128");
	ok(c && c->socket.per_source_ipv6_prefix == 128, "MaxConnectionsPerSourceIPv6Prefix=128");
	config_free(c);
	c = accept_key("Socket", "MaxConnectionsPerSourceIPv6Prefix=");
	ok(c && c->socket.per_source_ipv6_prefix == 64,
	   "MaxConnectionsPerSourceIPv6Prefix= resets to 64");
	config_free(c);
	c = accept_key("Socket", "TriggerLimitBurst=5");
	ok(c && c->socket.trigger_limit_burst == 5, "Accept=yes TriggerLimitBurst=5");
	config_free(c);
	c = accept_key("Container", "StandardInput=socket");
	ok(c && c->container.standard_input == STANDARD_INPUT_SOCKET, "StandardInput=socket");
	config_free(c);
	c = accept_key("Container", "StandardInput=fd");
	ok(c && c->container.standard_input == STANDARD_INPUT_FD, "StandardInput=fd");
	config_free(c);
	c = accept_key("Container", "PoolSize=4");
	ok(c && c->container.pool_size == 4, "PoolSize=4");
	config_free(c);
	c = accept_key("Service", "RuntimeMaxSec=30s");
	ok(c && c->service.runtime_max == 30 * USEC_PER_SEC, "RuntimeMaxSec=30s");
	config_free(c);
	c = accept_key("Service", "RuntimeMaxSec=infinity");
	ok(c && c->service.runtime_max == USEC_INFINITY, "RuntimeMaxSec=infinity");
	config_free(c);
	/* Unix stream and seqpacket sockets accept too. */
	c = parse_good("[Socket]\nListenStream=/run/x.sock\nListenSequentialPacket=@y\n"
		       "Accept=yes\n[Container]\nExec=/bin/true\n",
		       "Accept=yes on unix stream and seqpacket");
	ok(c && c->socket.accept, "unix Accept=yes");
	config_free(c);

	accept_bad_key("Socket", "MaxConnections=0",
		       "MaxConnections=: invalid value '0': expected a number from 1 to 4096");
	accept_bad_key("Socket", "MaxConnections=4097",
		       "MaxConnections=: invalid value '4097': expected a number from 1 to 4096");
	accept_bad_key("Socket", "MaxConnectionsPerSource=-1",
		       "MaxConnectionsPerSource=: invalid value '-1': expected a number from 0 to "
		       "4096");
	accept_bad_key("Socket", "MaxConnectionsPerSourceIPv6Prefix=0",
		       "MaxConnectionsPerSourceIPv6Prefix=: invalid value '0': expected a number "
		       "from 1 to 128");
	accept_bad_key("Socket", "MaxConnectionsPerSourceIPv6Prefix=129",
		       "MaxConnectionsPerSourceIPv6Prefix=: invalid value '129': expected a number "
		       "from 1 to 128");
	accept_bad_key("Container", "StandardInput=tty",
		       "StandardInput=: invalid value 'tty': expected fd or socket");
	accept_bad_key("Container", "PoolSize=65",
		       "PoolSize=: invalid value '65': expected a number from 0 to 64");
	parse_bad(ACCEPT_BASE "[Container]\nPrepare=yes\n", "Prepare=yes with Accept=yes",
		  "t.conf: Prepare=yes needs Accept=no (with Accept=yes, PoolSize= keeps sandboxes "
		  "set up ahead)",
		  NULL);
	accept_bad_key("Service", "RuntimeMaxSec=0",
		       "RuntimeMaxSec=: must not be 0 (use infinity to wait forever)");
	accept_bad_key(
	    "Service", "RuntimeMaxSec=soon",
	    "RuntimeMaxSec=: invalid duration 'soon': expected e.g. 10s, 500ms, 1min 30s "
	    "or infinity");

	/* Errors of the whole file. */
	parse_bad(
	    "[Socket]\nListenDatagram=127.0.0.1:53\nAccept=yes\n[Container]\nExec=/bin/true\n",
	    "Accept=yes with a datagram socket",
	    "t.conf: Accept=yes with ListenDatagram=127.0.0.1:53 (line 2): a datagram socket "
	    "has no connections to accept (use Accept=no)",
	    NULL);
	parse_bad(ACCEPT_BASE "[Socket]\nMaxConnections=2\n[Container]\nPoolSize=3\n",
		  "PoolSize= above MaxConnections=",
		  "t.conf: PoolSize=3 is more than MaxConnections=2", NULL);
	parse_bad(ACCEPT_BASE "[Container]\nNetwork=veth\n", "Network=veth with Accept=yes",
		  "t.conf: Network=veth with Accept=yes is not supported (one veth pair per "
		  "service): use Network=none, shared-empty, host or netns:NAME",
		  NULL);
	parse_bad(ACCEPT_BASE "[Service]\nIdleFreezeSec=1s\n", "IdleFreezeSec= with Accept=yes",
		  "t.conf: IdleFreezeSec= needs Accept=no (a sandbox serves one connection: "
		  "IdleStopSec= ends one whose connection is silent)",
		  NULL);
	parse_bad(
	    BASE "[Socket]\nMaxConnections=2\nMaxConnectionsPerSource=1\n"
		 "MaxConnectionsPerSourceIPv6Prefix=56\n[Container]\n"
		 "StandardInput=socket\nPoolSize=1\n[Service]\nRuntimeMaxSec=1s\n",
	    "Accept=yes keys without Accept=yes", "t.conf: MaxConnections= needs Accept=yes",
	    "t.conf: MaxConnectionsPerSource= needs Accept=yes",
	    "t.conf: MaxConnectionsPerSourceIPv6Prefix= needs Accept=yes",
	    "t.conf: StandardInput=socket needs Accept=yes (with Accept=no the container gets "
	    "listening sockets, not a connection)",
	    "t.conf: PoolSize= needs Accept=yes", "t.conf: RuntimeMaxSec= needs Accept=yes", NULL);
}

/* Boot=yes: what it implies, what it needs. */
static void test_boot(void)
{
	struct service_config *c;

	c = parse_good("[Socket]\nListenStream=8080\n[Container]\nDirectory=/srv\nBoot=yes\n",
		       "Boot=yes without Exec=");
	if (c) {
		ok(c->container.boot, "Boot=yes");
		ok(c->container.exec && strcmp(c->container.exec[0], "/sbin/init") == 0 &&
		       !c->container.exec[1],
		   "Exec= defaults to /sbin/init");
		is_int(c->service.type, SERVICE_TYPE_NOTIFY, "Boot=yes implies Type=notify");
		is_int(c->service.kill_signal, SIGRTMIN + 3, "KillSignal= defaults to SIGRTMIN+3");
		ok(config_capabilities(&c->container, 0) & (UINT64_C(1) << 21),
		   "CAP_SYS_ADMIN (over its user namespace) by default");
	}
	config_free(c);
	c = parse_good("[Socket]\nListenStream=8080\n[Container]\nDirectory=/srv\nBoot=yes\n"
		       "Exec=/lib/systemd/systemd --log-level=debug\nCapabilities=CAP_CHOWN\n"
		       "[Service]\nKillSignal=SIGTERM\nType=simple\n",
		       "Boot=yes with Exec=, Capabilities=, KillSignal=");
	if (c) {
		ok(strcmp(c->container.exec[0], "/lib/systemd/systemd") == 0, "Exec= kept");
		is_int(c->service.kill_signal, SIGTERM, "an explicit KillSignal= is kept");
		is_int(c->service.type, SERVICE_TYPE_NOTIFY, "Type=notify all the same");
		ok(config_capabilities(&c->container, 0) == 1, "Capabilities= is kept");
	}
	config_free(c);
	parse_bad("[Socket]\nListenStream=8080\n[Container]\nBoot=yes\n", "Boot=yes without a tree",
		  "t.conf: Boot=yes needs Directory= (the tree to boot)", NULL);
	parse_bad(
	    "[Socket]\nListenStream=8080\nAccept=yes\n[Container]\nDirectory=/srv\nBoot=yes\n",
	    "Boot=yes with Accept=yes",
	    "t.conf: Boot=yes needs Accept=no (one booted container serves every connection)",
	    NULL);
	parse_bad("[Socket]\nListenStream=8080\n[Container]\nDirectory=/srv\nBoot=yes\n"
		  "PrivateUsers=no\n",
		  "Boot=yes without a user namespace",
		  "t.conf: Boot=yes needs a user namespace (PrivateUsers=no is set): the init gets "
		  "CAP_SYS_ADMIN, which must not be the host's",
		  NULL);
	parse_bad("[Socket]\nListenStream=8080\n[Container]\nDirectory=/srv\nBoot=yes\n"
		  "User=www-data\n",
		  "Boot=yes with User=",
		  "t.conf: Boot=yes with User=: the init runs as the container's root (its "
		  "services choose their users)",
		  NULL);
	parse_bad("[Socket]\nListenStream=8080\n[Container]\nDirectory=/srv\nBoot=yes\n"
		  "ProcSubset=pid\n",
		  "Boot=yes with ProcSubset=pid",
		  "t.conf: Boot=yes with ProcSubset=pid: an init needs the whole of /proc "
		  "(/proc/sys, /proc/cmdline, /proc/meminfo)",
		  NULL);
	bad_key("Container", "ProcSubset=none",
		"ProcSubset=: invalid value 'none': expected all or pid");
	bad_key("Container", "Boot=maybe", "Boot=: invalid boolean 'maybe': expected yes or no");
	parse_bad("[Socket]\nListenStream=8080\n[Container]\nExec=/bin/true\nEphemeral=yes\n",
		  "Ephemeral=yes without a tree",
		  "t.conf: Ephemeral=yes needs Directory= (the tree to lay a tmpfs over)", NULL);
}

int main(void)
{
	test_defaults();
	test_socket_keys();
	test_socket_errors();
	test_container_keys();
	test_container_errors();
	test_sandbox_keys();
	test_sandbox_errors();
	test_network_keys();
	test_network_errors();
	test_service_keys();
	test_reset_and_last_wins();
	test_syntax();
	test_required();
	test_duplicates_in_file();
	test_limits();
	test_equal();
	test_load_dir();
	test_listen_type_to_string();
	test_accept();
	test_boot();
	return tap_done();
}
