#include "postgres.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "child_link.h"
#include "pinnacle.h"
#include "run_lifecycle.h"

/* This process's live children, so that any exit of it kills them. */
static PtChildLink *live_children = NULL;

static void
kill_children_at_exit(int code, Datum arg)
{
	while (live_children != NULL)
		pt_child_end(live_children);
}

PtChildLink *
pt_child_start(const char *name, PtChildMain main, void *arg)
{
	static bool exit_callback_registered = false;
	int			sockets[2];
	pid_t		parent = MyProcPid;
	pid_t		pid;
	PtChildLink *link;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0)
		ereport(ERROR, (errcode_for_socket_access(), errmsg("could not create a channel to a %s process: %m", name)));
	if (!exit_callback_registered)
	{
		before_shmem_exit(kill_children_at_exit, (Datum) 0);
		exit_callback_registered = true;
	}
	link = MemoryContextAllocZero(TopMemoryContext, sizeof(PtChildLink));
	link->name = name;
	link->channel = -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
	{
		close(sockets[0]);
		close(sockets[1]);
		pfree(link);
		ereport(ERROR, (errmsg("could not fork a %s process: %m", name)));
	}
	if (pid == 0)
	{
		close(sockets[0]);
		main(sockets[1], parent, arg);
		_exit(1);				/* a child main never returns */
	}
	close(sockets[1]);
	link->pid = pid;
	link->channel = sockets[0];
	link->next_live = live_children;
	live_children = link;
	if (fcntl(link->channel, F_SETFL, O_NONBLOCK) != 0)
		elog(ERROR, "could not make the %s channel non-blocking: %m", name);
	link->events = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(link->events, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(link->events, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	AddWaitEventToSet(link->events, WL_SOCKET_READABLE, link->channel, NULL, NULL);
	link->inbox.data = MemoryContextAlloc(TopMemoryContext, 64 * 1024);
	link->inbox.maxlen = 64 * 1024;
	resetStringInfo(&link->inbox);
	return link;
}

/* Drops handled bytes once they are half the buffer, so the buffer does not grow. */
static void
compact_inbox(PtChildLink *link)
{
	if (link->consumed == 0 || link->consumed < link->inbox.len / 2)
		return;
	memmove(link->inbox.data, link->inbox.data + link->consumed, link->inbox.len - link->consumed);
	link->inbox.len -= link->consumed;
	link->consumed = 0;
}

/* Reads what the channel has now; notes a closed channel. The buffer keeps its memory
 * context (TopMemoryContext) as it grows. */
static void
read_available(PtChildLink *link)
{
	for (;;)
	{
		ssize_t		got;

		if (link->inbox.maxlen - link->inbox.len < 64 * 1024)
			enlargeStringInfo(&link->inbox, 64 * 1024);
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
take_message(PtChildLink *link, PtChannelMessage *message)
{
	int64		size;

	compact_inbox(link);
	size = pt_channel_parse(link->inbox.data + link->consumed, link->inbox.len - link->consumed, message);
	if (size < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("the %s process sent a malformed message", link->name)));
	link->consumed += size;
	return size > 0;
}

bool
pt_child_next(PtChildLink *link, PtChannelMessage *message, long timeout_ms)
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

PtChannelMessage
pt_child_reply(PtChildLink *link, const char *context)
{
	PtChannelMessage message;

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (pt_child_next(link, &message, -1))
			break;
		if (link->closed)
		{
			char	   *error;

			(void) pt_child_describe_exit(link, &error);
			ereport(ERROR, (errcode(ERRCODE_SYSTEM_ERROR), errmsg("%s%s", context, error)));
		}
	}
	if (message.kind == PT_CHANNEL_FAILED)
	{
		int32		kind;

		if (!pt_channel_part_is(&message, 0, sizeof(int32)))
			elog(ERROR, "the %s process sent a malformed error", link->name);
		memcpy(&kind, message.parts[0].data, sizeof(int32));
		ereport(ERROR,
				(errcode(pt_sqlstate_of((PtErrorKind) kind)), errmsg("%s%s", context, pt_channel_text(&message, 1))));
	}
	return message;
}

void
pt_child_send(PtChildLink *link, uint32 kind, const PtChannelPart *parts, uint32 nparts)
{
	if (link->closed || !pt_channel_send(link->channel, kind, parts, nparts))
		ereport(ERROR, (errcode(ERRCODE_SYSTEM_ERROR), errmsg("the %s process is gone", link->name)));
}

void
pt_child_send_byte(PtChildLink *link, char command)
{
	if (!link->closed && send(link->channel, &command, 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1)
		link->closed = true;
}

static void
reap(PtChildLink *link, bool kill_first)
{
	if (link->pid <= 0)
		return;
	if (kill_first && waitpid(link->pid, &link->exit_status, WNOHANG) == 0)
		kill(link->pid, SIGKILL);
	while (waitpid(link->pid, &link->exit_status, 0) < 0 && errno == EINTR)
		;
	link->pid = 0;
}

void
pt_child_end(PtChildLink *link)
{
	PtChildLink **live;

	/* a child that has not exited by now is killed: it holds nothing to save */
	reap(link, true);
	if (link->channel >= 0)
		close(link->channel);
	link->channel = -1;
	if (link->events != NULL)
		FreeWaitEventSet(link->events);
	link->events = NULL;
	for (live = &live_children; *live != NULL; live = &(*live)->next_live)
		if (*live == link)
		{
			*live = link->next_live;
			break;
		}
}

const char *
pt_child_describe_exit(PtChildLink *link, char **error)
{
	pid_t		pid = link->pid;
	int			status;

	/* the channel closed, so the process has exited or is about to */
	reap(link, false);
	pt_child_end(link);
	status = link->exit_status;
	if (WIFSIGNALED(status))
	{
		int			sig = WTERMSIG(status);

		*error = psprintf("the %s process (pid %d) was killed by signal %d (%s)", link->name, (int) pid, sig,
						  pg_strsignal(sig));
		return sig == SIGKILL || sig == SIGTERM ? PT_STATUS_INTERRUPTED : PT_STATUS_FAILED;
	}
	*error = psprintf("the %s process (pid %d) exited with code %d without reporting its end", link->name,
					  (int) pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return PT_STATUS_FAILED;
}

const char *
pt_channel_text(const PtChannelMessage *message, uint32 i)
{
	const char *text;

	if (i >= message->nparts || message->parts[i].size == 0)
		elog(ERROR, "a child process sent a message without its text");
	text = message->parts[i].data;
	if (text[message->parts[i].size - 1] != '\0')
		elog(ERROR, "a child process sent an unterminated text");
	return text;
}
