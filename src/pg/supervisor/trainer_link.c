#include "postgres.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "storage/ipc.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "run_lifecycle.h"
#include "trainer_link.h"

/* The link of this process's trainer, so that any exit of the supervisor kills it. */
static PtTrainerLink *live_link = NULL;

static void
kill_trainer_at_exit(int code, Datum arg)
{
	if (live_link != NULL)
		pt_trainer_link_end(live_link);
}

void
pt_trainer_link_start(PtTrainerLink *link, PtTrainerJob *job)
{
	int			sockets[2];
	pid_t		pid;
	static bool exit_callback_registered = false;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0)
		ereport(ERROR, (errcode_for_socket_access(), errmsg("could not create the trainer channel: %m")));
	if (!exit_callback_registered)
	{
		before_shmem_exit(kill_trainer_at_exit, (Datum) 0);
		exit_callback_registered = true;
	}
	job->channel = sockets[1];
	job->supervisor = MyProcPid;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		ereport(ERROR, (errmsg("could not fork the trainer process: %m")));
	if (pid == 0)
	{
		close(sockets[0]);
		pt_trainer_process_main(job);
	}
	close(sockets[1]);
	memset(link, 0, sizeof(*link));
	link->pid = pid;
	link->channel = sockets[0];
	if (fcntl(link->channel, F_SETFL, O_NONBLOCK) != 0)
		elog(ERROR, "could not make the trainer channel non-blocking: %m");
	link->events = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(link->events, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(link->events, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	AddWaitEventToSet(link->events, WL_SOCKET_READABLE, link->channel, NULL, NULL);
	link->inbox.data = MemoryContextAlloc(TopMemoryContext, 64 * 1024);
	link->inbox.maxlen = 64 * 1024;
	resetStringInfo(&link->inbox);
	live_link = link;
}

/* Drops handled bytes once they are half the buffer, so the buffer does not grow. */
static void
compact_inbox(PtTrainerLink *link)
{
	if (link->consumed == 0 || link->consumed < link->inbox.len / 2)
		return;
	memmove(link->inbox.data, link->inbox.data + link->consumed, link->inbox.len - link->consumed);
	link->inbox.len -= link->consumed;
	link->consumed = 0;
}

/* Reads what the channel has now; notes a closed channel. */
static void
read_available(PtTrainerLink *link)
{
	for (;;)
	{
		ssize_t		got;

		/* the buffer lives in TopMemoryContext, so it may grow past a step's context */
		if (link->inbox.maxlen - link->inbox.len < 64 * 1024)
		{
			MemoryContext previous = MemoryContextSwitchTo(TopMemoryContext);

			enlargeStringInfo(&link->inbox, 64 * 1024);
			MemoryContextSwitchTo(previous);
		}
		got = read(link->channel, link->inbox.data + link->inbox.len, link->inbox.maxlen - link->inbox.len - 1);
		if (got > 0)
		{
			link->inbox.len += got;
			continue;
		}
		if (got == 0)
			link->closed = true;
		else if (errno == EINTR)
			continue;
		else if (errno != EAGAIN && errno != EWOULDBLOCK)
			link->closed = true;
		return;
	}
}

static bool
take_message(PtTrainerLink *link, PtChannelMessage *message)
{
	int64		size;

	compact_inbox(link);
	size = pt_channel_parse(link->inbox.data + link->consumed, link->inbox.len - link->consumed, message);
	if (size < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("the trainer process sent a malformed message")));
	link->consumed += size;
	return size > 0;
}

bool
pt_trainer_link_next(PtTrainerLink *link, PtChannelMessage *message, long timeout_ms)
{
	WaitEvent	event;

	if (take_message(link, message))
		return true;
	if (link->closed)
		return false;
	if (WaitEventSetWait(link->events, timeout_ms, &event, 1, PG_WAIT_EXTENSION) == 0)
		return false;
	if (event.events & WL_LATCH_SET)
	{
		ResetLatch(MyLatch);
		return false;
	}
	read_available(link);
	return take_message(link, message);
}

void
pt_trainer_link_request_stop(PtTrainerLink *link)
{
	char		command = PT_CHANNEL_STOP;

	if (!link->closed && send(link->channel, &command, 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1)
		link->closed = true;
}

void
pt_trainer_link_end(PtTrainerLink *link)
{
	if (link->pid > 0)
	{
		/* a trainer that has not exited by now is killed: it holds nothing to save */
		if (waitpid(link->pid, &link->exit_status, WNOHANG) == 0)
		{
			kill(link->pid, SIGKILL);
			while (waitpid(link->pid, &link->exit_status, 0) < 0 && errno == EINTR)
				;
		}
		link->pid = 0;
	}
	if (link->channel >= 0)
	{
		close(link->channel);
		link->channel = -1;
	}
	if (link->events != NULL)
	{
		FreeWaitEventSet(link->events);
		link->events = NULL;
	}
	if (live_link == link)
		live_link = NULL;
}

const char *
pt_trainer_link_describe_exit(PtTrainerLink *link, char **error)
{
	pid_t		pid = link->pid;
	int			status;

	/* the channel closed, so the process has exited or is about to */
	if (pid > 0)
	{
		while (waitpid(pid, &link->exit_status, 0) < 0 && errno == EINTR)
			;
		link->pid = 0;
	}
	pt_trainer_link_end(link);
	status = link->exit_status;
	if (WIFSIGNALED(status))
	{
		int			sig = WTERMSIG(status);

		*error = psprintf("the trainer process (pid %d) was killed by signal %d (%s)", (int) pid, sig,
						  pg_strsignal(sig));
		return sig == SIGKILL || sig == SIGTERM ? PT_STATUS_INTERRUPTED : PT_STATUS_FAILED;
	}
	*error = psprintf("the trainer process (pid %d) exited with code %d without reporting its end", (int) pid,
					  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return PT_STATUS_FAILED;
}

const char *
pt_channel_text(const PtChannelMessage *message, uint32 i)
{
	const char *text;

	if (i >= message->nparts || message->parts[i].size == 0)
		elog(ERROR, "the trainer process sent a message without its text");
	text = message->parts[i].data;
	if (text[message->parts[i].size - 1] != '\0')
		elog(ERROR, "the trainer process sent an unterminated text");
	return text;
}
