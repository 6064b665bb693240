// Batched UDP for the relay's worker threads: recvmmsg/sendmmsg over
// preallocated arrays, IPv4 sockets, epoll and eventfd. Small and in C so
// that the Swift hot path makes direct calls with no allocation; the same
// file builds the bare forwarder of `make bench-relay` (the floor).
#ifndef LUUKKU_RELAY_IO_H
#define LUUKKU_RELAY_IO_H

#include <stddef.h>
#include <spawn.h>
#include <stdint.h>

// A batch of `capacity` packet buffers of `buffer_size` octets each, with the
// mmsghdr/iovec/sockaddr arrays recvmmsg needs. Allocated once per worker.
typedef struct luukku_batch luukku_batch;

luukku_batch *luukku_batch_new(unsigned capacity, unsigned buffer_size);
void luukku_batch_free(luukku_batch *batch);
unsigned luukku_batch_capacity(const luukku_batch *batch);

// Receives up to `limit` datagrams (at most the capacity); each may fill its
// buffer up to `receive_size` octets (less than buffer_size leaves room for an
// SRTP trailer). Returns the count, 0 when nothing is waiting, -errno on error.
int luukku_batch_receive(int fd, luukku_batch *batch, unsigned limit, unsigned receive_size);

uint8_t *luukku_batch_buffer(luukku_batch *batch, unsigned index);
unsigned luukku_batch_length(const luukku_batch *batch, unsigned index);
// Source of a received datagram: IPv4 address and port, host byte order.
uint32_t luukku_batch_address(const luukku_batch *batch, unsigned index);
uint16_t luukku_batch_port(const luukku_batch *batch, unsigned index);
// 1 when the kernel cut the datagram to fit the buffer.
int luukku_batch_truncated(const luukku_batch *batch, unsigned index);

// Outgoing messages that point into a receive batch's buffers.
typedef struct luukku_outbox luukku_outbox;

luukku_outbox *luukku_outbox_new(unsigned capacity);
void luukku_outbox_free(luukku_outbox *outbox);
// Sets message `index` to send `length` octets at `data` to address:port (host byte order).
void luukku_outbox_set(luukku_outbox *outbox, unsigned index, const uint8_t *data, unsigned length, uint32_t address,
                       uint16_t port);
// Sends messages 0 ..< count with sendmmsg, again while some remain and the
// kernel takes more. Returns how many were sent (the rest were refused: a full
// send buffer or an unreachable address), or -errno when none went.
int luukku_outbox_send(int fd, luukku_outbox *outbox, unsigned count);

// Sends messages first ..< count (the rest of a partly sent outbox) with one sendmmsg; returns how many went,
// or -errno.
int luukku_outbox_send_from(int fd, luukku_outbox *outbox, unsigned first, unsigned count);

// A non-blocking IPv4 UDP socket bound to address:port (host byte order; port
// 0 lets the kernel choose), with the given buffer sizes (0 keeps the
// default). Returns the fd, or -errno. The port bound is in *bound_port.
int luukku_udp_open(uint32_t address, uint16_t port, int buffer_octets, uint16_t *bound_port);
// Sends one datagram (tests and tools); returns octets sent or -errno.
int luukku_udp_send(int fd, const uint8_t *data, unsigned length, uint32_t address, uint16_t port);
// Receives one datagram without blocking; returns its length, or -errno (-EAGAIN when none is waiting).
int luukku_udp_receive(int fd, uint8_t *data, unsigned capacity, uint32_t *address, uint16_t *port);
// Waits up to timeout_ms for fd to be readable; 1 readable, 0 timed out, -errno.
int luukku_wait_readable(int fd, int timeout_ms);
// The same with a timeout in nanoseconds (ppoll), for a paced sender that sleeps until its next packet is due.
int luukku_wait_readable_ns(int fd, uint64_t timeout_ns);
// prctl(PR_SET_TIMERSLACK): how late the kernel may wake this thread from a timed wait (default 50 us).
int luukku_set_timer_slack_ns(unsigned long slack_ns);
// Parses dotted IPv4 text into host byte order; 0 on success, -1 when not an address.
int luukku_ipv4_parse(const char *text, uint32_t *address);

// epoll and eventfd for a worker's loop. Registered fds carry a 64-bit tag.
int luukku_epoll_create(void);
int luukku_epoll_add(int epoll_fd, int fd, uint64_t tag);
int luukku_epoll_remove(int epoll_fd, int fd);
// Waits up to timeout_ms; writes up to `capacity` tags of ready fds; returns the count or -errno.
int luukku_epoll_wait(int epoll_fd, uint64_t *tags, int capacity, int timeout_ms);
int luukku_eventfd_create(void);
void luukku_eventfd_signal(int fd);
void luukku_eventfd_drain(int fd);
int luukku_close(int fd);

// A pipe whose two ends are close-on-exec from the start (pipe2 with O_CLOEXEC: no other thread's spawn can
// inherit them in between). 0, or -errno.
int luukku_pipe_cloexec(int ends[2]);
// Sets a pipe's capacity (F_SETPIPE_SZ; the kernel may round it up or refuse above its limit). The new
// capacity, or -errno.
int luukku_pipe_set_size(int fd, int octets);
// posix_spawn_file_actions_addclosefrom_np (glibc 2.34, a GNU extension Swift's Glibc module does not show):
// the child closes every descriptor from `from` on. 0, or an error number.
int luukku_spawn_closefrom(posix_spawn_file_actions_t *actions, int from);

// Online processors.
long luukku_processor_count(void);
// CLOCK_MONOTONIC in nanoseconds.
uint64_t luukku_monotonic_ns(void);
// CLOCK_REALTIME as the middle 32 bits of an NTP timestamp (RFC 3550 section 4): seconds << 16 | fraction >> 16.
uint32_t luukku_ntp_middle_now(void);

#endif
