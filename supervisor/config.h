/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The configuration contract: one file per service, CONFIG_DIR/NAME.conf,
 * in systemd unit syntax (libinih parses, the meaning of each key is ours).
 * docs/nsinetd.conf.5.md documents every key below.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/parse.h"
#include "common/sockaddr.h"
#include "netns/address.h"

/* Limits on everything a configuration controls. */
#define CONFIG_MAX_SERVICES    1024
#define CONFIG_MAX_LISTEN      64   /* Listen*= per service */
#define CONFIG_MAX_BINDS       128  /* Bind=, BindReadOnly=, TemporaryFileSystem= */
#define CONFIG_MAX_ENV         256  /* Environment= assignments */
#define CONFIG_MAX_LINE        4096 /* bytes in one line */
#define CONFIG_MAX_FILE_SIZE   (1024 * 1024)
#define CONFIG_MAX_ERRORS      64   /* per file; then "too many errors" */
#define CONFIG_MAX_CONNECTIONS 4096 /* MaxConnections=, sandboxes per service */
#define CONFIG_MAX_POOL        64   /* PoolSize= */

enum listen_type {
	LISTEN_STREAM,    /* ListenStream= */
	LISTEN_DATAGRAM,  /* ListenDatagram= */
	LISTEN_SEQPACKET, /* ListenSequentialPacket=, unix only */
};

struct listen_config {
	enum listen_type type;
	struct socket_address address;
	char *text;    /* the value as written, for messages */
	unsigned line; /* where it was written */
};

enum bind_ipv6_only {
	BIND_IPV6_DEFAULT, /* "default": the kernel's net.ipv6.bindv6only */
	BIND_IPV6_BOTH,    /* "both" */
	BIND_IPV6_ONLY,    /* "ipv6-only" */
};

/* ProcSubset=: the container's /proc, whole (with masks) or its processes only. */
enum proc_subset {
	PROC_SUBSET_ALL, /* "all" */
	PROC_SUBSET_PID, /* "pid": mounted with subset=pid */
};

enum standard_input {
	STANDARD_INPUT_FD,     /* "fd": the connection is fd 3 (LISTEN_FDS=1) */
	STANDARD_INPUT_SOCKET, /* "socket": the connection is fds 0 and 1 (inetd) */
};

enum network_mode {
	NETWORK_NONE,         /* a new network namespace with only lo, up */
	NETWORK_HOST,         /* the daemon's network namespace */
	NETWORK_VETH,         /* a new network namespace with a veth pair to the daemon's */
	NETWORK_NETNS,        /* joins /run/netns/NAME (container.netns_name) */
	NETWORK_SHARED_EMPTY, /* one empty namespace (lo up) per service, shared */
};

/* AddressPool= defaults: an IPv4 /30 and an IPv6 /64 per container. */
#define NETWORK_POOL_V4 "10.89.0.0/16"
#define NETWORK_POOL_V6 "fd00:6e73:696e::/48"

struct bind_config {
	char *source;   /* host path (absolute) */
	char *target;   /* path in the container (absolute) */
	bool read_only; /* BindReadOnly=, or ":ro" */
	bool optional;  /* source written as "-/path": a missing one is skipped */
	bool idmap;     /* ":idmap": seen through the container's user namespace */
	bool suid;      /* ":suid": setuid bits and device nodes work (else nosuid,nodev) */
};

struct tmpfs_config {
	char *target;  /* absolute path in the container */
	char *options; /* mount options ("mode=0755,size=64M"), or NULL */
};

struct socket_config {
	struct listen_config *listen; /* in fd order */
	size_t n_listen;
	bool accept;      /* Accept=: yes = one sandbox per connection (accept.c) */
	unsigned backlog; /* Backlog=, default 4096 (SOMAXCONN) */
	char *fd_name;    /* FileDescriptorName=, default: the service name */
	enum bind_ipv6_only bind_ipv6_only;
	bool reuse_port;     /* ReusePort= */
	bool free_bind;      /* FreeBind= */
	usec_t defer_accept; /* DeferAcceptSec=, 0 = off */
	mode_t socket_mode;  /* SocketMode=, default 0666 */
	char *socket_user;   /* SocketUser=, NULL = root */
	char *socket_group;  /* SocketGroup=, NULL = root */
	/* A temporary suspension when starts come too fast, whatever their
	 * outcome (a service that exits 0 without serving would otherwise
	 * restart in a loop): TriggerLimitIntervalSec= (2s), TriggerLimitBurst= (200). */
	usec_t trigger_limit_interval;
	unsigned trigger_limit_burst;
	/* Accept=yes only. */
	unsigned max_connections;            /* MaxConnections=, default 64 */
	unsigned max_connections_per_source; /* MaxConnectionsPerSource=, 0 = off */
	/* MaxConnectionsPerSourceIPv6Prefix=: IPv6 sources count per prefix
	 * of this many bits, 1-128, default 64 (0 in a file without Accept=yes). */
	unsigned per_source_ipv6_prefix;
};

enum private_users {
	PRIVATE_USERS_NO,    /* the host's uids */
	PRIVATE_USERS_PICK,  /* yes/pick: a free range of 65536 host uids per service */
	PRIVATE_USERS_FIXED, /* UID[:COUNT] */
};

/* Limit*=: soft and hard, RLIM_INFINITY for infinity. */
struct rlimit_config {
	bool set;
	uint64_t soft, hard;
};

#define CONFIG_RLIMITS 16 /* RLIMIT_NLIMITS on Linux */

/*
 * A fork bomb in a container must stop well below the host's limits
 * (kernel.pid_max, 32768 on many hosts; kernel.threads-max). Two bounds, as
 * neither always holds: TasksMax= counts the tasks of one container's (with
 * Accept=yes: one sandbox's) cgroup, where a pids controller is delegated;
 * LimitNPROC= counts the tasks of one uid: per service with PrivateUsers=
 * (a uid range of its own), host-wide for a User= of the host, and not at
 * all for the host's root. All sandboxes of an Accept=yes service share
 * their uid, hence CONFIG_NPROC_PER_SANDBOX times MaxConnections= there.
 */
#define CONFIG_DEFAULT_TASKS_MAX   512
#define CONFIG_DEFAULT_LIMIT_NPROC 512
#define CONFIG_NPROC_PER_SANDBOX   4 /* its init, the program, two children */

struct sandbox_config {
	enum private_users private_users; /* PrivateUsers=, default pick */
	uid_t private_users_shift;        /* FIXED: the first host uid */
	uid_t private_users_range;        /* FIXED: how many (default 65536) */
	bool capabilities_set;            /* Capabilities= given: else the default set */
	uint64_t capabilities;            /* bit n = capability n */
	bool no_new_privileges;           /* NoNewPrivileges=, default yes */
	bool syscall_allow_list;          /* a SystemCallFilter= without '~' was given */
	char **syscall_allow;             /* its names and @groups */
	char **syscall_deny;              /* SystemCallFilter=~... */
	int syscall_error_number;         /* SystemCallErrorNumber=, default EPERM */
	/* Limit*=, by RLIMIT_*; LimitNPROC= is always set (a default). */
	struct rlimit_config rlimits[CONFIG_RLIMITS];
	/* cgroup v2, 0 = unset (not written); UINT64_MAX = infinity. */
	uint64_t memory_max;  /* MemoryMax= bytes */
	uint64_t memory_high; /* MemoryHigh= bytes */
	uint64_t tasks_max;   /* TasksMax=, 0 = CONFIG_DEFAULT_TASKS_MAX */
	unsigned cpu_weight;  /* CPUWeight= 1-10000 */
	unsigned cpu_quota;   /* CPUQuota= percent of one CPU, 1-100000 */
	unsigned io_weight;   /* IOWeight= 1-10000 */
	/* OOMScoreAdjust=, -1000..1000; CONFIG_OOM_SCORE_UNSET: not given (the
	 * daemon's own, but never below 0: service_spec_build()). */
	int oom_score_adjust;
};

#define CONFIG_OOM_SCORE_UNSET INT_MIN

struct container_config {
	char *directory;           /* Directory=, NULL = the host's / read-only */
	char *image;               /* Image=, an OCI image (supervisor/image.h) */
	char *oci_bundle;          /* OCIBundle=, a runtime bundle's directory */
	unsigned image_line;       /* where Image= or OCIBundle= was set (messages) */
	char **exec;               /* Exec=, split into argv; required */
	char *working_directory;   /* WorkingDirectory=, default "/" */
	char **environment;        /* Environment=, "KEY=value" each */
	char *user;                /* User=, name or number; NULL = root */
	char *group;               /* Group=, NULL = the user's primary group */
	char *hostname;            /* Hostname=, default: the service name */
	struct bind_config *binds; /* Bind= and BindReadOnly=, in order */
	size_t n_binds;
	struct tmpfs_config *tmpfs; /* TemporaryFileSystem= */
	size_t n_tmpfs;
	bool read_only;            /* ReadOnly=, default yes (also for Directory=) */
	enum network_mode network; /* Network=, default none */

	/* Sandbox hardening (config-sandbox.c). */
	struct sandbox_config sandbox;
	/* Accept=yes only. */
	enum standard_input standard_input; /* StandardInput=, default fd */
	enum proc_subset proc_subset;       /* ProcSubset=, default all */
	unsigned pool_size;                 /* PoolSize=, default 0 */
	/* Accept=no only: Prepare=, default no; whether the file set it. */
	bool prepare;
	bool prepare_set;
	/* Boot=: Exec= (default /sbin/init) is an init, pid 1 itself. */
	bool boot;
	/* Ephemeral=: Directory= under a tmpfs overlay, never written. */
	bool ephemeral;
	/* Network=netns:NAME, Network=veth. Addresses: [0] IPv4, [1] IPv6,
	 * family 0 = not set. */
	char *netns_name;                    /* NAME of Network=netns:NAME */
	struct netns_prefix address[2];      /* Address= (the container's host0) */
	struct netns_prefix host_address[2]; /* HostAddress= (ve-NAME, the gateway) */
	struct netns_prefix address_pool[2]; /* AddressPool=, default NETWORK_POOL_V4/V6 */
	char *bridge;                        /* Bridge=, NULL = address the host side */
};

struct service_settings {
	usec_t stop_timeout;         /* StopTimeoutSec=, default 10s */
	int kill_signal;             /* KillSignal=, default SIGTERM (SIGRTMIN+3 for Boot=yes) */
	bool kill_signal_set;        /* whether the file set it */
	usec_t start_limit_interval; /* StartLimitIntervalSec=, default 10s */
	unsigned start_limit_burst;  /* StartLimitBurst=, default 5 */
	/* Scale to zero: after this long idle, freeze (cgroup v2) or stop the
	 * container; 0 = never. */
	usec_t idle_freeze; /* IdleFreezeSec= */
	usec_t idle_stop;   /* IdleStopSec= */
	/* Idle means below this much CPU (hundredths of a percent of one
	 * CPU) in every accounting tick: IdleCPUPercent=, default 1%. */
	unsigned idle_cpu_centi;
	/* IdleConnections=: count (any open connection keeps the container
	 * awake) or traffic (only one that carried data within the window). */
	enum idle_connections { IDLE_CONNECTIONS_COUNT, IDLE_CONNECTIONS_TRAFFIC } idle_connections;
	usec_t runtime_max; /* RuntimeMaxSec=, Accept=yes only; default infinity */
	/* Type=notify: starting until READY=1 (notify.c); Accept=no only. */
	enum service_type { SERVICE_TYPE_SIMPLE, SERVICE_TYPE_NOTIFY } type;
	usec_t start_timeout; /* StartTimeoutSec=, default 90s */
	usec_t watchdog;      /* WatchdogSec=, 0 = off; Accept=no only */
};

struct service_config {
	char *name; /* file name without ".conf" */
	char *path; /* the file it came from */
	struct socket_config socket;
	struct container_config container;
	struct service_settings service;
};

/* Error messages, each "FILE:LINE: message" (or "FILE: message"). */
struct config_errors {
	char **messages; /* strv */
	size_t n;
};

/*
 * Parses one file. name is the service name (the file's base name without
 * ".conf"). On success returns 0 and *ret. On invalid content returns
 * -EINVAL with every problem found appended to errs (parsing goes on after
 * the first error, so that one run of --check shows them all). Other
 * negative errno: the file could not be read (also appended to errs).
 */
int config_parse_file(const char *path, const char *name, struct config_errors *errs,
		      struct service_config **ret);
/* The same from a string, for tests; path is used in messages only. */
int config_parse_string(const char *text, const char *path, const char *name,
			struct config_errors *errs, struct service_config **ret);

/*
 * Loads every DIR/NAME.conf in name order. Valid services land in *ret (n in
 * *ret_n); a file with errors is skipped with its errors in errs. Also
 * checks across files: the same listen address in two services is an
 * error for the second (in name order). Returns 0, or a negative errno if
 * the directory itself cannot be read; more than CONFIG_MAX_SERVICES files
 * is an error for the extra files.
 */
int config_load_dir(const char *dir, struct config_errors *errs, struct service_config ***ret,
		    size_t *ret_n);

struct service_config *config_free(struct service_config *c);
void config_free_array(struct service_config **a, size_t n);
/* Same meaning (a reload keeps a service whose config is equal). */
bool config_equal(const struct service_config *a, const struct service_config *b);
/* Same listener set and socket options (a reload then keeps the fds). */
bool config_listen_equal(const struct listen_config *a, const struct listen_config *b);

/* The effective configuration, every key in table order with its value or
 * its default, in the configuration file's own syntax (what `nsinetctl show`
 * prints). emit() is called once per value; a key that holds a list
 * (ListenStream=, Bind=, Environment=, …) is emitted once per element, and
 * a list key that is empty is emitted once with value "" (and is_default true).
 * Keys that share one list (ListenStream=, ListenDatagram= and
 * ListenSequentialPacket=; Bind= and BindReadOnly=) come together, at the
 * place of the first, their empty ones first, so that the elements keep
 * their order. Fed back as a file, the values give a config_equal() one.
 * is_default: the value of a file that sets none of the keys but Accept=. */
typedef void (*config_dump_fn)(void *userdata, const char *section, const char *key,
			       const char *value, bool is_default);
void config_dump(const struct service_config *c, config_dump_fn emit, void *userdata);

/* The table of keys (supervisor/config.c, config_keys[]), for tests and
 * tools: how many, and the i-th key's name (NULL past the end), its section
 * and a valid value that is not its default (NULL for a key whose only
 * value is its default). */
size_t config_key_count(void);
const char *config_key_name(size_t i, const char **ret_section, const char **ret_sample);

void config_errors_add(struct config_errors *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void config_errors_clear(struct config_errors *errs);

const char *listen_type_to_string(enum listen_type t); /* "ListenStream", ... */

/* The capabilities the payload keeps: Capabilities=, or the default for
 * its uid (a documented set for root, none for others; config-sandbox.c). */
uint64_t config_capabilities(const struct container_config *c, uid_t uid);
