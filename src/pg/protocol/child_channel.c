/* The trainer channel's framing (see child_channel.h). No PostgreSQL calls: the trainer
 * process links this too. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "child_channel.h"

typedef struct ChannelHeader
{
	uint32_t	kind;
	uint32_t	nparts;
	uint64_t	body_size;
} ChannelHeader;

/* Writes every byte of `iov`, waiting while the socket is full; false if the peer is gone. */
static bool
write_all(int fd, struct iovec *iov, int iovcnt)
{
	while (iovcnt > 0)
	{
		ssize_t		written = writev(fd, iov, iovcnt);

		if (written < 0)
		{
			struct pollfd wait_for = {.fd = fd, .events = POLLOUT};

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return false;
			(void) poll(&wait_for, 1, 1000);
			continue;
		}
		while (iovcnt > 0 && (size_t) written >= iov->iov_len)
		{
			written -= iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0)
		{
			iov->iov_base = (char *) iov->iov_base + written;
			iov->iov_len -= written;
		}
	}
	return true;
}

bool
pt_channel_send(int fd, uint32_t kind, const PtChannelPart *parts, uint32_t nparts)
{
	ChannelHeader header = {.kind = kind, .nparts = nparts};
	uint64_t	sizes[PT_CHANNEL_MAX_PARTS];
	struct iovec iov[1 + 2 * PT_CHANNEL_MAX_PARTS];
	int			iovcnt = 0;

	if (nparts > PT_CHANNEL_MAX_PARTS)
		return false;
	iov[iovcnt++] = (struct iovec) {.iov_base = &header, .iov_len = sizeof(header)};
	for (uint32_t i = 0; i < nparts; i++)
	{
		sizes[i] = parts[i].size;
		header.body_size += sizeof(uint64_t) + parts[i].size;
		iov[iovcnt++] = (struct iovec) {.iov_base = &sizes[i], .iov_len = sizeof(uint64_t)};
		iov[iovcnt++] = (struct iovec) {.iov_base = (void *) parts[i].data, .iov_len = parts[i].size};
	}
	return write_all(fd, iov, iovcnt);
}

int64_t
pt_channel_parse(const char *buffer, size_t size, PtChannelMessage *message)
{
	ChannelHeader header;
	const char *cursor;
	const char *end;

	if (size < sizeof(header))
		return 0;
	memcpy(&header, buffer, sizeof(header));
	if (header.nparts > PT_CHANNEL_MAX_PARTS || header.body_size > INT64_MAX - sizeof(header))
		return -1;
	if (size - sizeof(header) < header.body_size)
		return 0;
	cursor = buffer + sizeof(header);
	end = cursor + header.body_size;
	message->kind = header.kind;
	message->nparts = header.nparts;
	for (uint32_t i = 0; i < header.nparts; i++)
	{
		uint64_t	part_size;

		if ((size_t) (end - cursor) < sizeof(uint64_t))
			return -1;
		memcpy(&part_size, cursor, sizeof(uint64_t));
		cursor += sizeof(uint64_t);
		if ((uint64_t) (end - cursor) < part_size)
			return -1;
		message->parts[i] = (PtChannelPart) {.data = cursor, .size = part_size};
		cursor += part_size;
	}
	return cursor == end ? (int64_t) (sizeof(header) + header.body_size) : -1;
}

/* Reads exactly `size` bytes; false at the end of the stream or on an error. */
static bool
read_exactly(int fd, char *into, size_t size)
{
	while (size > 0)
	{
		ssize_t		got = read(fd, into, size);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return false;
		into += got;
		size -= got;
	}
	return true;
}

bool
pt_channel_receive(int fd, char **buffer, size_t *capacity, PtChannelMessage *message)
{
	ChannelHeader header;
	size_t		size;

	if (!read_exactly(fd, (char *) &header, sizeof(header)) || header.body_size > SIZE_MAX - sizeof(header))
		return false;
	size = sizeof(header) + header.body_size;
	if (size > *capacity)
	{
		char	   *grown = realloc(*buffer, size);

		if (grown == NULL)
			return false;
		*buffer = grown;
		*capacity = size;
	}
	memcpy(*buffer, &header, sizeof(header));
	return read_exactly(fd, *buffer + sizeof(header), header.body_size) &&
		pt_channel_parse(*buffer, size, message) == (int64_t) size;
}

bool
pt_channel_part_is(const PtChannelMessage *message, uint32_t i, size_t size)
{
	return i < message->nparts && message->parts[i].size == size;
}
