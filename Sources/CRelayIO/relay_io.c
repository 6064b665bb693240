// Batched UDP, epoll and eventfd for the relay, and the pipes of the clients' media engine: see
// include/luukku_relay_io.h.
#define _GNU_SOURCE
#include "luukku_relay_io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct luukku_batch {
    unsigned capacity;
    unsigned buffer_size;
    struct mmsghdr *messages;
    struct iovec *vectors;
    struct sockaddr_in *addresses;
    uint8_t *buffers;
};

luukku_batch *luukku_batch_new(unsigned capacity, unsigned buffer_size) {
    luukku_batch *batch = calloc(1, sizeof *batch);
    if (batch == NULL) return NULL;
    batch->capacity = capacity;
    batch->buffer_size = buffer_size;
    batch->messages = calloc(capacity, sizeof *batch->messages);
    batch->vectors = calloc(capacity, sizeof *batch->vectors);
    batch->addresses = calloc(capacity, sizeof *batch->addresses);
    batch->buffers = aligned_alloc(64, (size_t)capacity * buffer_size + 64);
    if (batch->messages == NULL || batch->vectors == NULL || batch->addresses == NULL || batch->buffers == NULL) {
        luukku_batch_free(batch);
        return NULL;
    }
    for (unsigned i = 0; i < capacity; i++) {
        batch->vectors[i].iov_base = batch->buffers + (size_t)i * buffer_size;
        batch->messages[i].msg_hdr.msg_iov = &batch->vectors[i];
        batch->messages[i].msg_hdr.msg_iovlen = 1;
        batch->messages[i].msg_hdr.msg_name = &batch->addresses[i];
    }
    return batch;
}

void luukku_batch_free(luukku_batch *batch) {
    if (batch == NULL) return;
    free(batch->messages);
    free(batch->vectors);
    free(batch->addresses);
    free(batch->buffers);
    free(batch);
}

unsigned luukku_batch_capacity(const luukku_batch *batch) { return batch->capacity; }

int luukku_batch_receive(int fd, luukku_batch *batch, unsigned limit, unsigned receive_size) {
    if (limit > batch->capacity) limit = batch->capacity;
    if (receive_size > batch->buffer_size) receive_size = batch->buffer_size;
    for (unsigned i = 0; i < limit; i++) {
        batch->vectors[i].iov_len = receive_size;
        batch->messages[i].msg_hdr.msg_namelen = sizeof batch->addresses[i];
        batch->messages[i].msg_hdr.msg_flags = 0;
    }
    int received;
    do {
        received = recvmmsg(fd, batch->messages, limit, MSG_DONTWAIT, NULL);
    } while (received < 0 && errno == EINTR);
    if (received < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
    return received;
}

uint8_t *luukku_batch_buffer(luukku_batch *batch, unsigned index) {
    return batch->buffers + (size_t)index * batch->buffer_size;
}
unsigned luukku_batch_length(const luukku_batch *batch, unsigned index) { return batch->messages[index].msg_len; }
uint32_t luukku_batch_address(const luukku_batch *batch, unsigned index) {
    return ntohl(batch->addresses[index].sin_addr.s_addr);
}
uint16_t luukku_batch_port(const luukku_batch *batch, unsigned index) {
    return ntohs(batch->addresses[index].sin_port);
}
int luukku_batch_truncated(const luukku_batch *batch, unsigned index) {
    return (batch->messages[index].msg_hdr.msg_flags & MSG_TRUNC) != 0;
}

struct luukku_outbox {
    unsigned capacity;
    struct mmsghdr *messages;
    struct iovec *vectors;
    struct sockaddr_in *addresses;
};

luukku_outbox *luukku_outbox_new(unsigned capacity) {
    luukku_outbox *outbox = calloc(1, sizeof *outbox);
    if (outbox == NULL) return NULL;
    outbox->capacity = capacity;
    outbox->messages = calloc(capacity, sizeof *outbox->messages);
    outbox->vectors = calloc(capacity, sizeof *outbox->vectors);
    outbox->addresses = calloc(capacity, sizeof *outbox->addresses);
    if (outbox->messages == NULL || outbox->vectors == NULL || outbox->addresses == NULL) {
        luukku_outbox_free(outbox);
        return NULL;
    }
    for (unsigned i = 0; i < capacity; i++) {
        outbox->messages[i].msg_hdr.msg_iov = &outbox->vectors[i];
        outbox->messages[i].msg_hdr.msg_iovlen = 1;
        outbox->messages[i].msg_hdr.msg_name = &outbox->addresses[i];
        outbox->messages[i].msg_hdr.msg_namelen = sizeof outbox->addresses[i];
        outbox->addresses[i].sin_family = AF_INET;
    }
    return outbox;
}

void luukku_outbox_free(luukku_outbox *outbox) {
    if (outbox == NULL) return;
    free(outbox->messages);
    free(outbox->vectors);
    free(outbox->addresses);
    free(outbox);
}

void luukku_outbox_set(luukku_outbox *outbox, unsigned index, const uint8_t *data, unsigned length, uint32_t address,
                       uint16_t port) {
    outbox->vectors[index].iov_base = (void *)data;
    outbox->vectors[index].iov_len = length;
    outbox->addresses[index].sin_addr.s_addr = htonl(address);
    outbox->addresses[index].sin_port = htons(port);
}

int luukku_outbox_send(int fd, luukku_outbox *outbox, unsigned count) {
    unsigned sent = 0;
    while (sent < count) {
        int result = luukku_outbox_send_from(fd, outbox, sent, count);
        if (result < 0) return sent == 0 ? result : (int)sent;
        if (result == 0) break;
        sent += (unsigned)result;
    }
    return (int)sent;
}

int luukku_outbox_send_from(int fd, luukku_outbox *outbox, unsigned first, unsigned count) {
    if (first >= count) return 0;
    int result;
    do {
        result = sendmmsg(fd, outbox->messages + first, count - first, MSG_DONTWAIT);
    } while (result < 0 && errno == EINTR);
    return result < 0 ? -errno : result;
}

int luukku_udp_open(uint32_t address, uint16_t port, int buffer_octets, uint16_t *bound_port) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (buffer_octets > 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_octets, sizeof buffer_octets);
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_octets, sizeof buffer_octets);
    }
    struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(address)};
    if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    socklen_t length = sizeof local;
    if (getsockname(fd, (struct sockaddr *)&local, &length) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    if (bound_port != NULL) *bound_port = ntohs(local.sin_port);
    return fd;
}

int luukku_udp_send(int fd, const uint8_t *data, unsigned length, uint32_t address, uint16_t port) {
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(address)};
    ssize_t sent = sendto(fd, data, length, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof to);
    return sent < 0 ? -errno : (int)sent;
}

int luukku_udp_receive(int fd, uint8_t *data, unsigned capacity, uint32_t *address, uint16_t *port) {
    struct sockaddr_in from;
    socklen_t length = sizeof from;
    ssize_t received = recvfrom(fd, data, capacity, MSG_DONTWAIT, (struct sockaddr *)&from, &length);
    if (received < 0) return -errno;
    if (address != NULL) *address = ntohl(from.sin_addr.s_addr);
    if (port != NULL) *port = ntohs(from.sin_port);
    return (int)received;
}

int luukku_wait_readable(int fd, int timeout_ms) {
    struct pollfd poller = {.fd = fd, .events = POLLIN};
    int result;
    do {
        result = poll(&poller, 1, timeout_ms);
    } while (result < 0 && errno == EINTR);
    return result < 0 ? -errno : result;
}

int luukku_wait_readable_ns(int fd, uint64_t timeout_ns) {
    struct pollfd poller = {.fd = fd, .events = POLLIN};
    struct timespec timeout = {.tv_sec = (time_t)(timeout_ns / 1000000000u), .tv_nsec = (long)(timeout_ns % 1000000000u)};
    int result = ppoll(&poller, 1, &timeout, NULL);
    return result < 0 ? (errno == EINTR ? 0 : -errno) : result;
}

int luukku_set_timer_slack_ns(unsigned long slack_ns) {
    return prctl(PR_SET_TIMERSLACK, slack_ns, 0, 0, 0) < 0 ? -errno : 0;
}

int luukku_ipv4_parse(const char *text, uint32_t *address) {
    struct in_addr parsed;
    if (inet_pton(AF_INET, text, &parsed) != 1) return -1;
    *address = ntohl(parsed.s_addr);
    return 0;
}

int luukku_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int luukku_epoll_add(int epoll_fd, int fd, uint64_t tag) {
    struct epoll_event event = {.events = EPOLLIN, .data.u64 = tag};
    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0 ? -errno : 0;
}

int luukku_epoll_remove(int epoll_fd, int fd) {
    return epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

int luukku_epoll_wait(int epoll_fd, uint64_t *tags, int capacity, int timeout_ms) {
    struct epoll_event events[64];
    if (capacity > 64) capacity = 64;
    int ready = epoll_wait(epoll_fd, events, capacity, timeout_ms);
    if (ready < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < ready; i++) tags[i] = events[i].data.u64;
    return ready;
}

int luukku_eventfd_create(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

void luukku_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t ignored = write(fd, &one, sizeof one);
    (void)ignored;  // a full counter still wakes the reader
}

void luukku_eventfd_drain(int fd) {
    uint64_t value;
    ssize_t ignored = read(fd, &value, sizeof value);
    (void)ignored;
}

int luukku_close(int fd) { return close(fd) < 0 ? -errno : 0; }

long luukku_processor_count(void) { return sysconf(_SC_NPROCESSORS_ONLN); }

uint64_t luukku_monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

uint32_t luukku_ntp_middle_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t seconds = (uint64_t)now.tv_sec + 2208988800u;  // NTP epoch 1900
    uint64_t fraction = ((uint64_t)now.tv_nsec << 32) / 1000000000u;
    return (uint32_t)((seconds << 16) | (fraction >> 16));
}

int luukku_pipe_cloexec(int ends[2]) { return pipe2(ends, O_CLOEXEC) == 0 ? 0 : -errno; }

int luukku_pipe_set_size(int fd, int octets) {
    int size = fcntl(fd, F_SETPIPE_SZ, octets);
    return size < 0 ? -errno : size;
}

int luukku_spawn_closefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}
