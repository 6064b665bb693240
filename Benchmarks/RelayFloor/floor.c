// The floor of `make bench-relay`: a bare forwarder with no crypto, the same batched I/O as the relay
// (Sources/CRelayIO: epoll, recvmmsg, sendmmsg) and the same latching rule (a leg sends to the address its
// peer last sent from), one thread. What a relay costs beyond this is crypto and bookkeeping.
//
// usage: luukku-bench-floor SESSIONS FIRST_PORT SESSIONS_FILE
//   leg A of session i is FIRST_PORT + 2i, leg B FIRST_PORT + 2i + 1; the file gets "aPort bPort - - plain".
#include "luukku_relay_io.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    int fd;
    uint16_t port;
    int latched;
    uint32_t address;
    uint16_t peer_port;
} leg;

static volatile sig_atomic_t stopping = 0;
static void stop(int signal) { (void)signal; stopping = 1; }

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s SESSIONS FIRST_PORT SESSIONS_FILE\n", argv[0]);
        return 2;
    }
    int sessions = atoi(argv[1]);
    int first = atoi(argv[2]);
    leg *legs = calloc((size_t)sessions * 2, sizeof *legs);
    int epoll = luukku_epoll_create();
    FILE *out = fopen(argv[3], "w");
    if (legs == NULL || epoll < 0 || out == NULL) return 1;
    for (int i = 0; i < sessions * 2; i++) {
        legs[i].port = (uint16_t)(first + i);
        legs[i].fd = luukku_udp_open(0x7F000001, legs[i].port, 4 << 20, NULL);
        if (legs[i].fd < 0 || luukku_epoll_add(epoll, legs[i].fd, (uint64_t)i) < 0) {
            fprintf(stderr, "cannot bind port %d\n", legs[i].port);
            return 1;
        }
        if (i % 2 == 1) fprintf(out, "%d %d - - plain\n", legs[i - 1].port, legs[i].port);
    }
    fclose(out);
    signal(SIGTERM, stop);
    signal(SIGINT, stop);
    luukku_batch *batch = luukku_batch_new(32, 2048);
    luukku_outbox *outbox = luukku_outbox_new(32);
    uint64_t tags[64];
    while (!stopping) {
        int ready = luukku_epoll_wait(epoll, tags, 64, 250);
        for (int r = 0; r < ready; r++) {
            leg *from = &legs[tags[r]];
            leg *to = &legs[tags[r] ^ 1];
            for (int round = 0; round < 8; round++) {
                int count = luukku_batch_receive(from->fd, batch, 32, 2048);
                if (count <= 0) break;
                unsigned outgoing = 0;
                for (int i = 0; i < count; i++) {
                    from->latched = 1;
                    from->address = luukku_batch_address(batch, (unsigned)i);
                    from->peer_port = luukku_batch_port(batch, (unsigned)i);
                    if (!to->latched) continue;
                    luukku_outbox_set(outbox, outgoing++, luukku_batch_buffer(batch, (unsigned)i),
                                      luukku_batch_length(batch, (unsigned)i), to->address, to->peer_port);
                }
                if (outgoing > 0) luukku_outbox_send(to->fd, outbox, outgoing);
                if (count < 32) break;
            }
        }
    }
    return 0;
}
