// nqdelay: a user-space stand-in for netem, for kernels built without sch_netem.
// The NAT lab (interop/natlab_impair.go) compiles it at test time and steers the
// packets its internet router forwards into an NFQUEUE
// (iptables -t mangle ... -j NFQUEUE --queue-num N --queue-bypass). This program
// holds each packet for DELAY_MS (FIFO, so no reordering), drops LOSS_PERCENT of
// them at random, and then gives the verdict. It writes one line to stderr when
// the queue is bound ("nqdelay: queue ...") and one with its counters when it
// ends on SIGTERM ("nqdelay: queue N in=... dropped=... ringfull=..."), after
// releasing every packet it still holds.
//
// build: gcc -O2 -o nqdelay nqdelay.c -lnetfilter_queue
// usage: nqdelay -q QUEUE -d DELAY_MS [-l LOSS_PERCENT] [-s SEED]
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#define RING (1u << 18) /* max packets in flight */

static uint32_t ring_id[RING];
static uint64_t ring_t[RING];
static unsigned head, tail; /* tail = next to release */
static uint64_t delay_ns;
static double loss;
static unsigned long long n_in, n_drop, n_full;
static volatile sig_atomic_t stop;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int cb(struct nfq_q_handle *qh, struct nfgenmsg *m, struct nfq_data *nfa, void *data) {
  (void)m; (void)data;
  struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
  if (!ph) return 0;
  uint32_t id = ntohl(ph->packet_id);
  n_in++;
  if (loss > 0 && drand48() * 100.0 < loss) {
    n_drop++;
    return nfq_set_verdict(qh, id, NF_DROP, 0, NULL);
  }
  if (delay_ns == 0) return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
  if (head - tail >= RING) { /* ring full: pass through */
    n_full++;
    return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
  }
  ring_id[head & (RING - 1)] = id;
  ring_t[head & (RING - 1)] = now_ns() + delay_ns;
  head++;
  return 0;
}

static void onsig(int s) { (void)s; stop = 1; }

int main(int argc, char **argv) {
  int qnum = 0, opt;
  long seed = (long)getpid() ^ (long)time(NULL);
  double dms = 0;
  while ((opt = getopt(argc, argv, "q:d:l:s:")) != -1) {
    switch (opt) {
      case 'q': qnum = atoi(optarg); break;
      case 'd': dms = atof(optarg); break;
      case 'l': loss = atof(optarg); break;
      case 's': seed = atol(optarg); break;
      default:
        fprintf(stderr, "usage: %s -q QUEUE -d DELAY_MS [-l LOSS_PCT] [-s SEED]\n", argv[0]);
        return 2;
    }
  }
  delay_ns = (uint64_t)(dms * 1e6);
  srand48(seed);
  signal(SIGINT, onsig);
  signal(SIGTERM, onsig);

  struct nfq_handle *h = nfq_open();
  if (!h) { perror("nfq_open"); return 1; }
  nfq_unbind_pf(h, AF_INET); /* harmless on new kernels */
  nfq_bind_pf(h, AF_INET);
  struct nfq_q_handle *qh = nfq_create_queue(h, qnum, &cb, NULL);
  if (!qh) { perror("nfq_create_queue"); return 1; }
  if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) { perror("nfq_set_mode"); return 1; }
  nfq_set_queue_maxlen(qh, RING);
  int fd = nfq_fd(h);
  int rcv = 64 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv);
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);

  fprintf(stderr, "nqdelay: queue %d delay %.1fms loss %.2f%%\n", qnum, dms, loss);
  char buf[65536] __attribute__((aligned));
  struct pollfd pfd = { .fd = fd, .events = POLLIN };
  while (!stop) {
    int timeout = 100; /* wake now and then: a SIGTERM just before poll must not be missed */
    if (head != tail) {
      uint64_t t = ring_t[tail & (RING - 1)], n = now_ns();
      timeout = t > n ? (int)((t - n + 999999) / 1000000) : 0;
    }
    int pr = poll(&pfd, 1, timeout);
    if (pr < 0 && errno != EINTR) { perror("poll"); break; }
    if (pr > 0) {
      /* drain everything that is readable */
      for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r < 0) break;
        nfq_handle_packet(h, buf, (int)r);
      }
    }
    uint64_t n = now_ns();
    while (head != tail && ring_t[tail & (RING - 1)] <= n) {
      nfq_set_verdict(qh, ring_id[tail & (RING - 1)], NF_ACCEPT, 0, NULL);
      tail++;
    }
  }
  /* release what we still hold so nothing is stuck */
  while (head != tail) { nfq_set_verdict(qh, ring_id[tail & (RING - 1)], NF_ACCEPT, 0, NULL); tail++; }
  fprintf(stderr, "nqdelay: queue %d in=%llu dropped=%llu ringfull=%llu\n", qnum, n_in, n_drop, n_full);
  nfq_destroy_queue(qh);
  nfq_close(h);
  return 0;
}
