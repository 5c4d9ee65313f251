#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "miscadmin.h"
#include "storage/fd.h"

#include "child_setup.h"

/* A child's stdout and stderr are the server log's. A user's module can print() or warn
 * without end (a gigabyte in four calls, from outside), so nothing a child writes there is
 * kept: its reports go over its channel, and its death is logged by its parent. */
static void
silence_output(void)
{
	int			null = open("/dev/null", O_WRONLY);

	if (null < 0)
		return;
	(void) dup2(null, STDOUT_FILENO);
	(void) dup2(null, STDERR_FILENO);
	if (null > STDERR_FILENO)
		close(null);
}

/* Unmaps every shared mapping the child inherited: the server's main shared memory (shared
 * buffers, locks, the WAL buffers) and its dynamic segments. A child runs libtorch on bytes
 * it cannot fully trust (weights, an optimizer state, a user's module); whatever a bug there
 * lets such bytes write, it must not be the server's memory. A child needs none of it: it
 * talks to its parent over a socketpair, and its rows are private copy-on-write pages.
 * Any failure here ends the child before it runs anything. */
static void
unmap_shared_memory(void)
{
	FILE	   *maps = fopen("/proc/self/maps", "r");
	char		line[512];

	if (maps == NULL)
		_exit(PT_CHILD_EXIT_SETUP_FAILED);
	while (fgets(line, sizeof(line), maps) != NULL)
	{
		unsigned long start,
					end;
		char		perms[5];

		if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) == 3 && perms[3] == 's' &&
			munmap((void *) start, end - start) != 0)
			_exit(PT_CHILD_EXIT_SETUP_FAILED);
		if (strchr(line, '\n') == NULL)	/* a path longer than the line: skip its rest */
		{
			int			c;

			while ((c = fgetc(maps)) != EOF && c != '\n')
				;
		}
	}
	fclose(maps);
}

void
pt_child_detach_from_server(pid_t parent)
{
	sigset_t	none;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(PT_CHILD_EXIT_PARENT_GONE);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	/* the parent alone decides when a child stops: cancels reach the parent, not us */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	(void) setsid();
	silence_output();
	unmap_shared_memory();
}

static bool
is_under(const char *path, const char *directory)
{
	size_t		length = strlen(directory);

	return length > 0 && strncmp(path, directory, length) == 0 && (path[length] == '/' || path[length] == '\0');
}

void
pt_child_close_server_files(int keep)
{
	DIR		   *fds;
	struct dirent *entry;
	char		wal[PATH_MAX];
	char		wal_link[MAXPGPATH];

	closeAllVfds();				/* relation files, in the data directory or a tablespace */
	snprintf(wal_link, sizeof(wal_link), "%s/pg_wal", DataDir);
	if (realpath(wal_link, wal) == NULL)	/* (pg_wal may be a link to another disk) */
		wal[0] = '\0';
	if ((fds = opendir("/proc/self/fd")) == NULL)
		_exit(PT_CHILD_EXIT_SETUP_FAILED);
	while ((entry = readdir(fds)) != NULL)
	{
		int			fd = atoi(entry->d_name);
		char		link[64];
		char		target[PATH_MAX];
		ssize_t		length;

		if (entry->d_name[0] == '.' || fd <= 2 || fd == keep || fd == dirfd(fds))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		if ((length = readlink(link, target, sizeof(target) - 1)) < 0)
			continue;
		target[length] = '\0';
		if (strncmp(target, "pipe:", 5) == 0 || strncmp(target, "socket:", 7) == 0 ||
			strncmp(target, "anon_inode:", 11) == 0 || is_under(target, DataDir) || is_under(target, wal))
			close(fd);
	}
	closedir(fds);
}

void
pt_child_close_other_files(int keep)
{
	DIR		   *fds = opendir("/proc/self/fd");
	struct dirent *entry;
	int			listing;

	if (fds == NULL)
		return;
	listing = dirfd(fds);
	while ((entry = readdir(fds)) != NULL)
	{
		int			fd = atoi(entry->d_name);

		if (entry->d_name[0] != '.' && fd > 2 && fd != keep && fd != listing)
			close(fd);
	}
	closedir(fds);
}

void
pt_child_volunteer_for_the_oom_killer(void)
{
	int			fd = open("/proc/self/oom_score_adj", O_WRONLY);

	if (fd >= 0)
	{
		(void) !write(fd, "1000", 4);
		close(fd);
	}
}

/* The private memory this process has mapped (VmData), or -1 when it cannot be read. */
static int64_t
data_segment_bytes(void)
{
	FILE	   *status = fopen("/proc/self/status", "r");
	char		line[256];
	long long	kb = -1;

	if (status == NULL)
		return -1;
	while (fgets(line, sizeof(line), status) != NULL)
		if (sscanf(line, "VmData: %lld kB", &kb) == 1)
			break;
	fclose(status);
	return kb < 0 ? -1 : (int64_t) kb * 1024;
}

void
pt_child_limit_memory(int64_t limit_bytes, int64_t held_bytes)
{
	int64_t		now = data_segment_bytes();
	struct rlimit limit;

	if (limit_bytes <= 0 || now < 0)
		return;
	limit.rlim_cur = limit.rlim_max = (rlim_t) (now - held_bytes + limit_bytes);
	(void) setrlimit(RLIMIT_DATA, &limit);
}
