"""Native helpers of the pod runtime: their C sources, how they are built, and how they are run.

Two small static programs do what Python cannot do quickly or safely in a multi-threaded process:

- ``fcrun``: enters or creates Linux namespaces, sets up a container's root (pivot_root, /proc,
  /sys, /dev), drops capabilities, and runs a program there. It stays as the parent of what it
  ran: it relays the exit status (128+signal when killed), forwards TERM/INT/HUP/QUIT/USR1/USR2,
  kills its child when it dies itself, and dies itself when the runtime dies (PR_SET_PDEATHSIG).
  In ``run`` mode it also writes the container's stdout+stderr to the log with timestamps.
- ``fcapp``: the one binary of the images: a pause process, a tiny HTTP server (the distroless
  ``/app``), a fake miner and a fake mining pool.

Both are compiled once per workdir with ``gcc -static`` and cached by the hash of their source.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass

FCRUN_C = r'''/* fcrun: namespace launcher of the fake cluster's pod runtime.
 *
 * fcrun exec --target PID [--start TICKS] [--detach] [common] -- ARGV...
 *     Joins the ipc, uts, net, pid and mount namespaces and the root of PID (a container's main
 *     process), forks, and runs ARGV there with the current environment (PATH lookup inside the
 *     container). Stays as the parent: forwards TERM/INT/HUP/QUIT/USR1/USR2, exits with the child's
 *     code (128+signal if it was killed). The child dies with SIGKILL if fcrun dies.
 *     --detach: ARGV runs as an orphan instead (the child forks it and exits, so the container's
 *     init adopts it, as it adopts what a shell started with `&` and left), with stdin /dev/null
 *     and stdout+stderr on the container init's stdout (the container log); fcrun prints
 *     "ok PID" (its pid inside the container) and exits 0.
 * fcrun run [--pid-from PID | --new-pid] [--net-from PID | --new-net] [--uts-from PID | --new-uts]
 *           [--ipc-from PID | --new-ipc] [--hostname NAME] [--root DIR [--proc] [--sys] [--dev]
 *           [--bind SRC:DST]...] [--log FILE] [common] -- ARGV...
 *     Starts a container's main process: joins or creates namespaces; with --root, a new mount
 *     namespace whose root (pivot_root) is DIR, with /proc of the process's PID namespace, /sys,
 *     a tmpfs /dev with the usual nodes, and SRC bind-mounted over DIR/DST. Writes one line on
 *     stdout, "ok PID STARTTICKS" (host pid of the main process) or "error MESSAGE", then relays:
 *     with --log, the main process's stdout+stderr become lines "<RFC3339Nano UTC> <line>" appended
 *     to FILE.
 * common: [--start TICKS] (refuse if PID's start time differs: pid reuse), [--uid N] [--gid N],
 *     [--caps N,N,...] (bounding, permitted, effective, inheritable and ambient set),
 *     [--mask-net DIR] (exec only: DIR is mounted over /proc/self/net of the exec'd process, in
 *     a mount namespace of its own; mounts over files of /proc/PID/net do not hold, since
 *     procfs revalidates those on every lookup, but the net directory itself is stable).
 * Exit codes of fcrun itself: 125 setup failure, 126 not executable, 127 not found.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_BINDS 32

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif

struct opts {
    int exec_mode;
    pid_t target;
    unsigned long long start;
    pid_t pid_from, net_from, uts_from, ipc_from;
    int new_pid, new_net, new_uts, new_ipc;
    const char *hostname;
    const char *root;
    int mnt_proc, mnt_sys, mnt_dev;
    const char *bind_src[MAX_BINDS];
    const char *bind_dst[MAX_BINDS];
    int nbinds;
    const char *log;
    long uid, gid;
    const char *caps;
    const char *mask_net;
    int detach;
    char **argv;
};

static volatile pid_t g_child = -1;
static int g_sigpipe[2] = {-1, -1};
static int g_cap_last = 40;
static int g_errfd = 2;

static void die(const char *fmt, ...)
{
    char msg[1024];
    int e = errno;
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(msg, sizeof msg, "fcrun: ");
    n += vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    if (e && n < (int)sizeof msg)
        n += snprintf(msg + n, sizeof msg - (size_t)n, ": %s", strerror(e));
    if (n < (int)sizeof msg - 1)
        msg[n++] = '\n';
    ssize_t w = write(g_errfd, msg, (size_t)(n < (int)sizeof msg ? n : (int)sizeof msg));
    (void)w;
    _exit(125);
}

static long parse_num(const char *s, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0) {
        errno = 0;
        die("bad %s: %s", what, s);
    }
    return v;
}

/* Opens /proc/PID as a directory; with start != 0, checks field 22 of its stat (start time in
 * clock ticks) so that a recycled pid is never entered. */
static int open_proc(pid_t pid, unsigned long long start)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        die("container process %d is gone", (int)pid);
    if (start) {
        char buf[1024];
        int fd = openat(dfd, "stat", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
        if (n <= 0)
            die("container process %d is gone", (int)pid);
        close(fd);
        buf[n] = '\0';
        char *p = strrchr(buf, ')');
        unsigned long long st = 0;
        /* after ")": state is field 3; starttime is field 22 */
        int field = 2;
        for (; p && *p; p++) {
            if (*p == ' ') {
                field++;
                if (field == 22) {
                    st = strtoull(p + 1, NULL, 10);
                    break;
                }
            }
        }
        if (st != start) {
            errno = 0;
            die("container process %d is gone (start time %llu, expected %llu)", (int)pid, st, start);
        }
    }
    return dfd;
}

static unsigned long long proc_start(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    int field = 2;
    for (; p && *p; p++)
        if (*p == ' ' && ++field == 22)
            return strtoull(p + 1, NULL, 10);
    return 0;
}

static void join_ns(pid_t pid, const char *name, int nstype)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)pid, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("open %s", path);
    if (setns(fd, nstype) < 0)
        die("setns %s", path);
    close(fd);
}

static void join_ns_at(int dfd, const char *name, int nstype)
{
    char path[32];
    snprintf(path, sizeof path, "ns/%s", name);
    int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("open ns/%s of the container", name);
    if (setns(fd, nstype) < 0)
        die("setns ns/%s", name);
    close(fd);
}

/* A detached copy of the mount of `path` (a bind mount that is not attached anywhere yet): unlike
 * a path or an O_PATH fd, it can be attached in another mount namespace (mount(2) with MS_BIND
 * refuses sources from another namespace). */
static int clone_tree(const char *path)
{
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | O_CLOEXEC);
    if (fd < 0)
        die("open_tree %s", path);
    return fd;
}

static void attach_tree(int fd, const char *target, const char *what)
{
    if (syscall(SYS_move_mount, fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        die("mount %s over %s", what, target);
    close(fd);
}

static unsigned long long parse_caps(const char *s)
{
    unsigned long long mask = 0;
    char *copy = strdup(s), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long c = parse_num(tok, "capability");
        if (c < 64)
            mask |= 1ULL << c;
    }
    free(copy);
    return mask;
}

/* Drops to the container's credentials: bounding set, uid/gid, then the capability sets
 * (with ambient capabilities so that a non-root uid keeps what was added, like runc). */
static void apply_creds(const struct opts *o)
{
    unsigned long long keep = ~0ULL;
    if (o->caps) {
        keep = parse_caps(o->caps);
        for (int c = 0; c <= g_cap_last; c++)
            if (!(keep & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
                die("drop capability %d", c);
    }
    if (o->uid >= 0 || o->gid >= 0) {
        gid_t gid = o->gid >= 0 ? (gid_t)o->gid : 0;
        uid_t uid = o->uid >= 0 ? (uid_t)o->uid : 0;
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
            die("keepcaps");
        if (setgroups(0, NULL) < 0)
            die("setgroups");
        if (setresgid(gid, gid, gid) < 0)
            die("setgid %u", gid);
        if (setresuid(uid, uid, uid) < 0)
            die("setuid %u", uid);
    }
    if (o->caps) {
        struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct data[2];
        memset(data, 0, sizeof data);
        for (int i = 0; i < 2; i++) {
            data[i].effective = data[i].permitted = data[i].inheritable =
                (unsigned int)(keep >> (32 * i));
        }
        if (syscall(SYS_capset, &hdr, data) < 0)
            die("capset");
        for (int c = 0; c <= g_cap_last; c++)
            if (keep & (1ULL << c))
                prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
    }
}

static void forward_signal(int sig)
{
    if (g_child > 0)
        kill(g_child, sig);
}

static void on_sigchld(int sig)
{
    (void)sig;
    int saved = errno;
    if (g_sigpipe[1] >= 0) {
        ssize_t r = write(g_sigpipe[1], "c", 1);
        (void)r;
    }
    errno = saved;
}

static void install_forwarders(void)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward_signal;
    sa.sa_flags = SA_RESTART;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}

static int exit_code_of(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 125;
}

static int wait_child(pid_t child)
{
    int status;
    for (;;) {
        pid_t r = waitpid(child, &status, 0);
        if (r == child)
            return exit_code_of(status);
        if (r < 0 && errno != EINTR)
            return 125;
    }
}

/* Child side, common to both modes: dies with fcrun, then credentials, then exec. */
static void child_exec(const struct opts *o, int errfd)
{
    apply_creds(o);
    execvp(o->argv[0], o->argv);
    int e = errno;
    if (errfd >= 0) {
        char msg[512];
        int n = snprintf(msg, sizeof msg, "exec %s: %s", o->argv[0], strerror(e));
        ssize_t r = write(errfd, msg, (size_t)n);
        (void)r;
    } else {
        fprintf(stderr, "exec: \"%s\": %s\n", o->argv[0], strerror(e));
    }
    _exit(e == ENOENT ? 127 : 126);
}

static void set_pdeathsig(pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        die("pdeathsig");
    pid_t now = getppid();
    /* 0: the parent is outside our new pid namespace (it cannot be told apart from a dead one) */
    if (now != parent && now != 0)
        _exit(125);
}

/* exec --detach, inside the container: a child forks ARGV and exits at once, so the container's
 * init adopts ARGV. Prints "ok PID" (ARGV's pid in the container's pid namespace). */
static int run_detached(struct opts *o)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        die("pipe");
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        pid_t g = fork();
        if (g == 0) {
            int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
            int out = open("/proc/1/fd/1", O_WRONLY | O_CLOEXEC);
            if (out < 0)
                out = open("/dev/null", O_WRONLY | O_CLOEXEC);
            if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
                _exit(125);
            child_exec(o, -1);
        }
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%d", (int)g);
        ssize_t w = write(pfd[1], buf, (size_t)n);
        (void)w;
        _exit(g < 0 ? 125 : 0);
    }
    close(pfd[1]);
    char buf[32];
    ssize_t n = read(pfd[0], buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    int code = wait_child(child);
    if (code != 0 || n <= 0) {
        errno = 0;
        die("could not start %s detached", o->argv[0]);
    }
    printf("ok %s\n", buf);
    fflush(stdout);
    return 0;
}

static int run_exec(struct opts *o)
{
    int dfd = open_proc(o->target, o->start);
    int rootfd = openat(dfd, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        die("open root of the container");
    int maskfd = o->mask_net ? clone_tree(o->mask_net) : -1;
    join_ns_at(dfd, "ipc", CLONE_NEWIPC);
    join_ns_at(dfd, "uts", CLONE_NEWUTS);
    join_ns_at(dfd, "net", CLONE_NEWNET);
    join_ns_at(dfd, "pid", CLONE_NEWPID);
    join_ns_at(dfd, "mnt", CLONE_NEWNS);
    close(dfd);
    if (fchdir(rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0)
        die("enter the container's root");
    close(rootfd);
    if (o->detach)
        return run_detached(o);
    install_forwarders();
    pid_t self = getpid();
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        set_pdeathsig(self);
        if (maskfd >= 0) {
            /* a mount namespace of its own, to show it a /proc/self/net of our making */
            if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                die("unshare mount namespace");
            attach_tree(maskfd, "/proc/self/net", o->mask_net);
        }
        child_exec(o, -1);
    }
    g_child = child;
    if (maskfd >= 0)
        close(maskfd);
    return wait_child(child);
}

static void mknod_dev(const char *name, unsigned maj, unsigned min)
{
    char path[64];
    snprintf(path, sizeof path, "dev/%s", name);
    if (mknod(path, S_IFCHR | 0666, makedev(maj, min)) < 0)
        die("mknod %s", path);
    chmod(path, 0666);
}

/* In the child of run mode: a private mount namespace whose root becomes o->root. */
static void setup_root(const struct opts *o, const int *bindfds)
{
    if (unshare(CLONE_NEWNS) < 0)
        die("unshare mount namespace");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        die("make / private");
    if (mount(o->root, o->root, NULL, MS_BIND | MS_REC, NULL) < 0)
        die("bind %s", o->root);
    if (chdir(o->root) < 0)
        die("chdir %s", o->root);
    if (o->mnt_proc && mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        die("mount proc");
    if (o->mnt_sys &&
        mount("sysfs", "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        die("mount sysfs");
    if (o->mnt_dev) {
        if (mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") < 0)
            die("mount /dev");
        mknod_dev("null", 1, 3);
        mknod_dev("zero", 1, 5);
        mknod_dev("full", 1, 7);
        mknod_dev("random", 1, 8);
        mknod_dev("urandom", 1, 9);
        mknod_dev("tty", 5, 0);
        if (symlink("/proc/self/fd", "dev/fd") < 0 || symlink("/proc/self/fd/0", "dev/stdin") < 0 ||
            symlink("/proc/self/fd/1", "dev/stdout") < 0 ||
            symlink("/proc/self/fd/2", "dev/stderr") < 0 || symlink("/proc/kcore", "dev/core") < 0)
            die("symlinks in /dev");
        if (mkdir("dev/shm", 01777) < 0 || mkdir("dev/pts", 0755) < 0 || mkdir("dev/mqueue", 0755) < 0)
            die("dirs in /dev");
        if (mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") < 0)
            die("mount /dev/shm");
    }
    for (int i = 0; i < o->nbinds; i++) {
        const char *dst = o->bind_dst[i];
        while (*dst == '/')
            dst++;
        attach_tree(bindfds[i], dst, o->bind_src[i]);
    }
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        die("pivot_root %s", o->root);
    if (umount2(".", MNT_DETACH) < 0)
        die("detach the old root");
    if (chdir("/") < 0)
        die("chdir /");
}

/* Formats the current time as Go's time.RFC3339Nano in UTC (trailing zeros trimmed). */
static size_t format_ts(char *out)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    if (ts.tv_nsec) {
        char frac[16];
        snprintf(frac, sizeof frac, ".%09ld", ts.tv_nsec);
        size_t len = strlen(frac);
        while (frac[len - 1] == '0')
            frac[--len] = '\0';
        memcpy(out + n, frac, len);
        n += len;
    }
    out[n++] = 'Z';
    out[n++] = ' ';
    return n;
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        buf += w;
        len -= (size_t)w;
    }
}

/* Copies the child's output into the log, one timestamp per line, until the child is gone. */
static int relay_log(pid_t child, int in, int logfd)
{
    static char buf[65536], out[65536 * 2 + 64];
    int at_line_start = 1, exited = 0, status = 0;
    fcntl(in, F_SETFL, O_NONBLOCK);
    for (;;) {
        if (!exited) {
            pid_t r = waitpid(child, &status, WNOHANG);
            if (r == child)
                exited = 1;
        }
        struct pollfd p[2] = {{in, POLLIN, 0}, {g_sigpipe[0], POLLIN, 0}};
        if (!exited && poll(p, 2, 1000) < 0 && errno != EINTR)
            break;
        if (p[1].revents & POLLIN) {
            char junk[64];
            ssize_t r = read(g_sigpipe[0], junk, sizeof junk);
            (void)r;
        }
        ssize_t n = read(in, buf, sizeof buf);
        if (n > 0) {
            size_t o = 0;
            for (ssize_t i = 0; i < n; i++) {
                if (at_line_start) {
                    o += format_ts(out + o);
                    at_line_start = 0;
                }
                out[o++] = buf[i];
                if (buf[i] == '\n')
                    at_line_start = 1;
                if (o > sizeof out - 64) {
                    write_all(logfd, out, o);
                    o = 0;
                }
            }
            write_all(logfd, out, o);
            continue;
        }
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            if (!exited)
                status = 0, waitpid(child, &status, 0), exited = 1;
            break;
        }
        if (exited)
            break; /* drained: later writers (orphans outside this pid ns) are not waited for */
    }
    if (!at_line_start)
        write_all(logfd, "\n", 1);
    return exit_code_of(status);
}

static int run_container(struct opts *o)
{
    int bindfds[MAX_BINDS];
    for (int i = 0; i < o->nbinds; i++)
        bindfds[i] = clone_tree(o->bind_src[i]);
    int logfd = -1, outpipe[2] = {-1, -1}, errpipe[2];
    if (o->log) {
        if ((logfd = open(o->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0)
            die("open %s", o->log);
        if (pipe2(outpipe, O_CLOEXEC) < 0)
            die("pipe");
    }
    if (pipe2(errpipe, O_CLOEXEC) < 0 || pipe2(g_sigpipe, O_CLOEXEC | O_NONBLOCK) < 0)
        die("pipe");
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0)
        die("open /dev/null");

    if (o->pid_from)
        join_ns(o->pid_from, "pid", CLONE_NEWPID);
    if (o->ipc_from)
        join_ns(o->ipc_from, "ipc", CLONE_NEWIPC);
    if (o->uts_from)
        join_ns(o->uts_from, "uts", CLONE_NEWUTS);
    if (o->net_from)
        join_ns(o->net_from, "net", CLONE_NEWNET);
    int flags = (o->new_pid ? CLONE_NEWPID : 0) | (o->new_net ? CLONE_NEWNET : 0) |
                (o->new_uts ? CLONE_NEWUTS : 0) | (o->new_ipc ? CLONE_NEWIPC : 0);
    if (flags && unshare(flags) < 0)
        die("unshare");
    if (o->hostname && sethostname(o->hostname, strlen(o->hostname)) < 0)
        die("sethostname");
    if (o->new_net) {
        /* loopback up, like every pod sandbox */
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        strcpy(ifr.ifr_name, "lo");
        if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
            die("loopback flags");
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
            die("loopback up");
        close(s);
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    install_forwarders();

    pid_t self = getpid();
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        set_pdeathsig(self);
        /* errors go back to the parent through errpipe */
        if (dup2(errpipe[1], 2) < 0)
            _exit(125);
        if (o->root)
            setup_root(o, bindfds);
        int out = o->log ? outpipe[1] : devnull;
        if (dup2(out, 1) < 0)
            die("dup2");
        int saved_err = fcntl(errpipe[1], F_DUPFD_CLOEXEC, 3);
        if (saved_err < 0 || dup2(out, 2) < 0)
            _exit(125);
        g_errfd = saved_err;
        child_exec(o, saved_err);
    }
    g_child = child;
    close(errpipe[1]);
    if (outpipe[1] >= 0)
        close(outpipe[1]);
    char msg[1024];
    ssize_t n, total = 0;
    while ((n = read(errpipe[0], msg + total, sizeof msg - 1 - (size_t)total)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        total += n;
        if ((size_t)total >= sizeof msg - 1)
            break;
    }
    if (total > 0) {
        msg[total] = '\0';
        for (char *p = msg; *p; p++)
            if (*p == '\n')
                *p = ' ';
        printf("error %s\n", msg);
        fflush(stdout);
        wait_child(child);
        return 125;
    }
    printf("ok %d %llu\n", (int)child, proc_start(child));
    fflush(stdout);
    dup2(devnull, 1);
    if (o->log)
        return relay_log(child, outpipe[0], logfd);
    return wait_child(child);
}

static void usage(void)
{
    fputs("usage: fcrun exec --target PID [options] -- ARGV...\n"
          "       fcrun run [options] -- ARGV...\n",
          stderr);
    _exit(125);
}

/* The options of struct opts that only set a field, by what their value is (--start and --bind
 * are parsed in main). */
enum opt_kind { OPT_FLAG, OPT_STR, OPT_PID, OPT_ID };
static const struct opt_spec {
    const char *name;
    enum opt_kind kind; /* OPT_FLAG: an int set to 1; OPT_ID: a long (uid, gid) */
    size_t off;
} OPTS[] = {
#define OPT(name, kind, field) {name, kind, offsetof(struct opts, field)}
    OPT("--target", OPT_PID, target),     OPT("--pid-from", OPT_PID, pid_from),
    OPT("--net-from", OPT_PID, net_from), OPT("--uts-from", OPT_PID, uts_from),
    OPT("--ipc-from", OPT_PID, ipc_from), OPT("--new-pid", OPT_FLAG, new_pid),
    OPT("--new-net", OPT_FLAG, new_net),  OPT("--new-uts", OPT_FLAG, new_uts),
    OPT("--new-ipc", OPT_FLAG, new_ipc),  OPT("--hostname", OPT_STR, hostname),
    OPT("--root", OPT_STR, root),         OPT("--proc", OPT_FLAG, mnt_proc),
    OPT("--sys", OPT_FLAG, mnt_sys),      OPT("--dev", OPT_FLAG, mnt_dev),
    OPT("--log", OPT_STR, log),           OPT("--uid", OPT_ID, uid),
    OPT("--gid", OPT_ID, gid),            OPT("--caps", OPT_STR, caps),
    OPT("--detach", OPT_FLAG, detach),    OPT("--mask-net", OPT_STR, mask_net),
#undef OPT
};

static const struct opt_spec *find_opt(const char *name)
{
    for (size_t k = 0; k < sizeof OPTS / sizeof OPTS[0]; k++)
        if (strcmp(OPTS[k].name, name) == 0)
            return &OPTS[k];
    return NULL;
}

int main(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof o);
    o.uid = o.gid = -1;
    if (argc < 2)
        usage();
    if (strcmp(argv[1], "exec") == 0)
        o.exec_mode = 1;
    else if (strcmp(argv[1], "run") != 0)
        usage();
    int i = 2;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV()          \
    do {                 \
        if (!v)          \
            usage();     \
        i++;             \
    } while (0)
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (strcmp(a, "--start") == 0) {
            NEEDV();
            o.start = strtoull(v, NULL, 10);
        } else if (strcmp(a, "--bind") == 0) {
            NEEDV();
            char *colon = strchr(v, ':');
            if (!colon || o.nbinds == MAX_BINDS)
                usage();
            *colon = '\0';
            o.bind_src[o.nbinds] = v;
            o.bind_dst[o.nbinds++] = colon + 1;
        } else {
            const struct opt_spec *spec = find_opt(a);
            if (!spec)
                usage();
            char *field = (char *)&o + spec->off;
            if (spec->kind == OPT_FLAG) {
                *(int *)field = 1;
                continue;
            }
            NEEDV();
            if (spec->kind == OPT_STR)
                *(const char **)field = v;
            else if (spec->kind == OPT_PID)
                *(pid_t *)field = (pid_t)parse_num(v, "pid");
            else
                *(long *)field = parse_num(v, spec->name + 2); /* "uid", "gid" */
        }
#undef NEEDV
    }
    if (i >= argc)
        usage();
    o.argv = argv + i;

    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    if (f) {
        if (fscanf(f, "%d", &g_cap_last) != 1 || g_cap_last > 63)
            g_cap_last = 40;
        fclose(f);
    }
    /* fcrun dies with its parent (the runtime): no container outlives a crashed server */
    pid_t parent = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
        return 125;
    if (o.exec_mode) {
        if (!o.target)
            usage();
        return run_exec(&o);
    }
    return run_container(&o);
}
'''

FCAPP_C = r'''/* fcapp: the one static program of the fake cluster's images. What it does depends on how it is
 * called, like busybox:
 *   fcapp --fc-pause                    sleep until killed (pod sandbox holders)
 *   fcapp --fc-pool ADDR PORT           a fake mining pool: accepts and holds connections
 *   NAME ... -o HOST:PORT ...           a fake miner: connects to HOST:PORT and holds the
 *                                       connection (reconnects when it drops); logs to stdout
 *   app [PORT]  (argv[0] ends in "app") a tiny HTTP server on 0.0.0.0:PORT (default 8080)
 *   anything else                       sleep until killed (any process name you like)
 * FC_COMM_HEX=<hex bytes> in the environment sets the process's comm (prctl PR_SET_NAME) to
 * those bytes, whatever they are (the hostile profile uses it for names with "/").
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

__attribute__((noreturn)) static void sleep_forever(void)
{
    for (;;)
        pause();
}

static int listen_on(const char *addr, int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    if (s < 0 || inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        return -1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(s, 64) < 0) {
        close(s);
        return -1;
    }
    return s;
}

static int serve_http(int port)
{
    int s = listen_on("0.0.0.0", port);
    if (s < 0) {
        fprintf(stderr, "listen :%d: %s\n", port, strerror(errno));
        return 1;
    }
    printf("app: listening on :%d\n", port);
    fflush(stdout);
    for (;;) {
        int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        char buf[4096];
        ssize_t n = read(c, buf, sizeof buf - 1);
        if (n > 0) {
            buf[n] = '\0';
            char *eol = strpbrk(buf, "\r\n");
            if (eol)
                *eol = '\0';
            printf("app: request \"%s\"\n", buf);
            fflush(stdout);
        }
        static const char resp[] = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                                   "Content-Length: 3\r\n\r\nok\n";
        ssize_t w = write(c, resp, sizeof resp - 1);
        (void)w;
        close(c);
    }
}

static int pool(const char *addr, int port)
{
    int s = listen_on(addr, port);
    if (s < 0) {
        fprintf(stderr, "pool: listen %s:%d: %s\n", addr, port, strerror(errno));
        return 1;
    }
    struct pollfd fds[256];
    int n = 1;
    fds[0].fd = s;
    fds[0].events = POLLIN;
    for (;;) {
        if (poll(fds, (nfds_t)n, 30000) == 0) {
            static const char job[] = "{\"method\":\"job\",\"params\":{\"blob\":\"0707\",\"target\":\"b88d0600\"}}\n";
            for (int i = 1; i < n; i++) {
                ssize_t w = write(fds[i].fd, job, sizeof job - 1);
                (void)w;
            }
            continue;
        }
        for (int i = n - 1; i >= 1; i--) {
            if (!fds[i].revents)
                continue;
            char buf[4096];
            if (read(fds[i].fd, buf, sizeof buf) <= 0) {
                close(fds[i].fd);
                fds[i] = fds[--n];
            }
        }
        if ((fds[0].revents & POLLIN) && n < 256) {
            int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
            if (c >= 0) {
                fds[n].fd = c;
                fds[n].events = POLLIN;
                fds[n++].revents = 0;
            }
        }
    }
}

__attribute__((noreturn)) static int miner(const char *name, const char *target)
{
    char host[64];
    const char *colon;
    if (strncmp(target, "stratum+tcp://", 14) == 0)
        target += 14;
    colon = strrchr(target, ':');
    if (!colon || (size_t)(colon - target) >= sizeof host)
        sleep_forever();
    memcpy(host, target, (size_t)(colon - target));
    host[colon - target] = '\0';
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        sleep_forever();
    printf(" * POOL #1      %s:%s\n", host, colon + 1);
    fflush(stdout);
    for (;;) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof sa) == 0) {
            printf("[%s] net use pool %s:%s\n", name, host, colon + 1);
            fflush(stdout);
            static const char login[] =
                "{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"login\",\"params\":{\"login\":\"4AfakeWallet\","
                "\"pass\":\"x\",\"agent\":\"XMRig/6.21.0\"}}\n";
            ssize_t w = write(s, login, sizeof login - 1);
            (void)w;
            char buf[4096];
            while (read(s, buf, sizeof buf) > 0)
                ;
        }
        if (s >= 0)
            close(s);
        sleep(2);
    }
}

static void set_comm_from_env(void)
{
    const char *hex = getenv("FC_COMM_HEX");
    char comm[16];
    size_t n = 0;
    if (!hex)
        return;
    for (; hex[0] && hex[1] && n < sizeof comm - 1; hex += 2) {
        char byte[3] = {hex[0], hex[1], 0};
        comm[n++] = (char)strtoul(byte, NULL, 16);
    }
    comm[n] = '\0';
    prctl(PR_SET_NAME, comm, 0, 0, 0);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    set_comm_from_env();
    if (argc >= 2 && strcmp(argv[1], "--fc-pause") == 0)
        sleep_forever();
    if (argc >= 4 && strcmp(argv[1], "--fc-pool") == 0)
        return pool(argv[2], atoi(argv[3]));
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--url") == 0) {
            const char *base = strrchr(argv[0], '/');
            return miner(base ? base + 1 : argv[0], argv[i + 1]);
        }
    size_t len = strlen(argv[0]);
    if (len >= 3 && strcmp(argv[0] + len - 3, "app") == 0)
        return serve_http(argc >= 2 ? atoi(argv[1]) : 8080);
    sleep_forever();
    return 0;
}
'''

SOURCES = {"fcrun": FCRUN_C, "fcapp": FCAPP_C}

# fcrun's own exit codes (anything else is the exit code of what it ran)
EXIT_SETUP_FAILED = 125
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127


class NativeBuildError(RuntimeError):
    """gcc failed (or is missing): the message carries its output."""


class NativeTools:
    """The compiled helpers of one workdir: ``bindir/<name>-<source hash>``.

    ``build()`` is synchronous and idempotent (a file lock serialises concurrent builders);
    run it in a thread from async code.
    """

    def __init__(self, bindir: str):
        self.bindir = bindir

    def path(self, name: str) -> str:
        """Where the binary for ``name`` ("fcrun" or "fcapp") is, built or not."""
        digest = hashlib.sha256(SOURCES[name].encode()).hexdigest()[:16]
        return os.path.join(self.bindir, f"{name}-{digest}")

    @property
    def fcrun(self) -> str:
        return self.path("fcrun")

    @property
    def fcapp(self) -> str:
        return self.path("fcapp")

    def build(self) -> None:
        """Compiles every helper that is not there yet. Raises NativeBuildError."""
        os.makedirs(self.bindir, exist_ok=True)
        with open(os.path.join(self.bindir, ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            for name, source in SOURCES.items():
                target = self.path(name)
                if os.path.exists(target):
                    continue
                self._compile(name, source, target)

    def _compile(self, name: str, source: str, target: str) -> None:
        gcc = shutil.which("gcc") or shutil.which("cc")
        if not gcc:
            raise NativeBuildError("no C compiler (gcc) to build the runtime's helpers")
        src = os.path.join(self.bindir, f"{name}.c")
        with open(src, "w") as f:
            f.write(source)
        tmp = target + ".tmp"
        proc = subprocess.run([gcc, "-static", "-O2", "-o", tmp, src],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            raise NativeBuildError(f"gcc -static {name}.c failed:\n{proc.stdout}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)


@dataclass
class Started:
    """A process started by ``fcrun run``: its relay (our child) and its main process."""
    relay: asyncio.subprocess.Process
    pid: int          # host pid of the main process
    start_ticks: int  # its start time (field 22 of /proc/PID/stat), to detect pid reuse


class LaunchError(RuntimeError):
    """fcrun could not start the process; the message says why."""


@dataclass
class Credentials:
    """Who a process runs as: uid/gid (None: keep root) and capabilities (None: keep all)."""
    uid: int | None = None
    gid: int | None = None
    caps: frozenset[int] | None = None

    def args(self) -> list[str]:
        out = []
        if self.uid is not None:
            out += ["--uid", str(self.uid)]
        if self.gid is not None:
            out += ["--gid", str(self.gid)]
        if self.caps is not None:
            out += ["--caps", ",".join(str(c) for c in sorted(self.caps)) or "63"]
        return out


class Launcher:
    """Runs fcrun. Every process it starts is our child, in its own session (terminal signals
    to the server do not reach containers), with an explicit environment."""

    def __init__(self, tools: NativeTools, debug_log: str):
        self._tools = tools
        self._debug_log = debug_log

    def _stderr(self):
        return open(self._debug_log, "ab")

    async def start(self, options: list[str], argv: list[str], env: dict[str, str],
                    hold_stdin: bool = False) -> Started:
        """``fcrun run OPTIONS -- ARGV``; returns once the main process has exec'd.
        hold_stdin: give it a stdin pipe that stays open (an attached, silent stdin).
        Raises LaunchError."""
        with self._stderr() as err:
            relay = await asyncio.create_subprocess_exec(
                self._tools.fcrun, "run", *options, "--", *argv,
                stdin=asyncio.subprocess.PIPE if hold_stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=err, env=env, start_new_session=True)
        line = (await relay.stdout.readline()).decode(errors="replace").strip()
        fields = line.split(" ", 2)
        if len(fields) == 3 and fields[0] == "ok":
            return Started(relay, int(fields[1]), int(fields[2]))
        await relay.wait()
        if fields[0] == "error" and len(fields) > 1:
            raise LaunchError(line[len("error "):])
        raise LaunchError(f"fcrun run exited with {relay.returncode} (see {self._debug_log})")

    async def exec(self, target_pid: int, start_ticks: int, argv: list[str],
                   env: dict[str, str], stdin: bool, creds: Credentials,
                   mask_net: str | None = None) -> asyncio.subprocess.Process:
        """``fcrun exec``: argv in the namespaces and root of target_pid, with pipes.
        mask_net: a host directory the process sees as its /proc/self/net."""
        options = ["--target", str(target_pid), "--start", str(start_ticks), *creds.args()]
        if mask_net:
            options += ["--mask-net", mask_net]
        return await asyncio.create_subprocess_exec(
            self._tools.fcrun, "exec", *options, "--", *argv,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=env, start_new_session=True)

    async def detach(self, target_pid: int, start_ticks: int, argv: list[str],
                     env: dict[str, str], creds: Credentials) -> int:
        """``fcrun exec --detach``: argv in the namespaces and root of target_pid as an orphan
        that the container's init adopts, logging to the container's log. Returns its pid inside
        the container. Raises LaunchError."""
        proc = await asyncio.create_subprocess_exec(
            self._tools.fcrun, "exec", "--detach", "--target", str(target_pid),
            "--start", str(start_ticks), *creds.args(), "--", *argv,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, start_new_session=True)
        out, err = await proc.communicate()
        fields = out.decode(errors="replace").split()
        if proc.returncode != 0 or len(fields) != 2 or fields[0] != "ok":
            raise LaunchError(f"fcrun exec --detach failed ({proc.returncode}): "
                              f"{err.decode(errors='replace').strip()}")
        return int(fields[1])

    async def run_in(self, target_pid: int, argv: list[str], stdin_data: bytes | None = None) -> None:
        """Runs a host tool (ip, sh) in the namespaces of target_pid (whose root is the host's)
        and waits. Raises LaunchError with its output if it fails."""
        proc = await asyncio.create_subprocess_exec(
            self._tools.fcrun, "exec", "--target", str(target_pid), "--", *argv,
            stdin=asyncio.subprocess.PIPE if stdin_data is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, start_new_session=True)
        out, _ = await proc.communicate(stdin_data)
        if proc.returncode != 0:
            raise LaunchError(f"{' '.join(argv)} failed ({proc.returncode}): "
                              f"{out.decode(errors='replace').strip()}")
