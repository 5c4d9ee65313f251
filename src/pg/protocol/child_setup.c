#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

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
