// The trainer channel's framing: messages written by one process, read back whole by the
// other through a real socketpair, in pieces as a stream may deliver them.
#include <gtest/gtest.h>

#include <csignal>
#include <cstring>

#include <sys/socket.h>
#include <unistd.h>

#include <string>

extern "C" {
#include "child_channel.h"
}

namespace {

std::string read_some(int fd, size_t size) {
  std::string bytes(size, '\0');
  size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd, bytes.data() + got, size - got);
    if (n <= 0) break;
    got += n;
  }
  bytes.resize(got);
  return bytes;
}

}  // namespace

TEST(ChildChannel, AMessageCrossesASocketWhole) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  PtTrainerState state{};
  state.iteration = 42;
  std::string weights(100000, 'w');
  PtChannelPart parts[2] = {{&state, sizeof(state)}, {weights.data(), weights.size()}};
  ASSERT_TRUE(pt_channel_send(fds[1], PT_CHANNEL_VALIDATED, parts, 2));
  close(fds[1]);
  std::string bytes = read_some(fds[0], 1 << 20);
  close(fds[0]);

  PtChannelMessage message;
  for (size_t cut = 0; cut < bytes.size(); cut += 9973)  // every prefix is incomplete, not malformed
    EXPECT_EQ(pt_channel_parse(bytes.data(), cut, &message), 0);
  ASSERT_EQ(pt_channel_parse(bytes.data(), bytes.size(), &message), static_cast<int64_t>(bytes.size()));
  EXPECT_EQ(message.kind, static_cast<uint32_t>(PT_CHANNEL_VALIDATED));
  ASSERT_EQ(message.nparts, 2u);
  EXPECT_TRUE(pt_channel_part_is(&message, 0, sizeof(PtTrainerState)));
  PtTrainerState received;
  std::memcpy(&received, message.parts[0].data, sizeof(received));
  EXPECT_EQ(received.iteration, 42);
  EXPECT_EQ(std::string(static_cast<const char*>(message.parts[1].data), message.parts[1].size), weights);
}

TEST(ChildChannel, MalformedBytesAreRefused) {
  uint32_t header[4] = {PT_CHANNEL_PROGRESS, PT_CHANNEL_MAX_PARTS + 1, 0, 0};
  PtChannelMessage message;
  EXPECT_EQ(pt_channel_parse(reinterpret_cast<const char*>(header), sizeof(header), &message), -1);
  // one part whose length runs past the message's size
  struct {
    uint32_t kind, nparts;
    uint64_t body_size, part_size;
  } lying = {PT_CHANNEL_PROGRESS, 1, 8, 1000};
  EXPECT_EQ(pt_channel_parse(reinterpret_cast<const char*>(&lying), sizeof(lying), &message), -1);
}

TEST(ChildChannel, SendingToAGonePeerFails) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  close(fds[0]);
  signal(SIGPIPE, SIG_IGN);
  PtChannelPart part = {"x", 1};
  EXPECT_FALSE(pt_channel_send(fds[1], PT_CHANNEL_PROGRESS, &part, 1));
  close(fds[1]);
}
