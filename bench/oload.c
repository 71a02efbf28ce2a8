// oload: a small open-loop HTTP/1.1 load generator for the benchmark (bench/run.ts builds it with
// `cc -O2` into a temp dir; it is never committed as a binary).
//
// Requests are scheduled at a constant rate (request k is due at start + k/rate), independently
// of responses, and sent on the first idle keep-alive connection; when every connection is busy
// they queue. Latency is measured from the *scheduled* time to the last byte of the response, so a
// stall shows up in the latency of every request it delayed (no coordinated omission, as in
// wrk2). The service time (actual send to last byte) is written too.
//
// Usage: oload -p PORT -r RATE -d SECONDS [-c CONNS] [-w WARMUP_SECONDS] [-P PATH]
//              [-H 'name: value']... -o FILE
// FILE gets one line per recorded request: "<latency_us> <service_us>". stdout gets one JSON line:
// {"scheduled":..,"completed":..,"errors":..,"late":..,"seconds":..}.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256
#define INBUF 65536

typedef struct {
  int fd;
  int busy;       // a request is outstanding
  int connected;  // connect() completed
  uint64_t sched; // scheduled time of the outstanding request (ns)
  uint64_t sent;  // actual send time (ns)
  int record;     // inside the measured window
  size_t inlen;
  char in[INBUF];
} conn_t;

static conn_t conns[MAX_CONNS];
static int nconns = 16;
static int port = 0;
static double rate = 1000;
static double seconds = 10, warmup = 0;
static char request[8192];
static size_t reqlen;
static int ep;

static uint64_t *queue; // scheduled times of requests waiting for an idle connection
static size_t qcap, qhead, qtail;

static FILE *out;
static uint64_t completed, errors, scheduled, late;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  perror(what);
  exit(2);
}

static void open_conn(conn_t *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) die("socket");
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  c->connected = 0;
  c->busy = 0;
  c->inlen = 0;
  if (connect(c->fd, (struct sockaddr *)&a, sizeof a) == 0) {
    c->connected = 1;
  } else if (errno != EINPROGRESS) {
    die("connect");
  }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
}

static void reopen(conn_t *c) {
  if (c->busy) errors++;
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  open_conn(c);
}

static void send_on(conn_t *c, uint64_t sched, uint64_t t0, uint64_t rec_from) {
  c->busy = 1;
  c->sched = sched;
  c->sent = now_ns();
  c->record = sched >= rec_from;
  (void)t0;
  ssize_t n = send(c->fd, request, reqlen, MSG_NOSIGNAL);
  if (n != (ssize_t)reqlen) reopen(c); // loopback: a short write of ~100 bytes does not happen
}

// Returns 1 when the buffer holds a complete response (headers + content-length body).
static int complete_response(conn_t *c) {
  char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
  if (!end) return 0;
  size_t hdr = (size_t)(end - c->in) + 4;
  size_t clen = 0;
  char *p = c->in;
  while (p < end) {
    char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
    if (!eol) break;
    if ((size_t)(eol - p) > 15 && strncasecmp(p, "content-length:", 15) == 0)
      clen = strtoul(p + 15, NULL, 10);
    p = eol + 2;
  }
  if (c->inlen < hdr + clen) return 0;
  size_t rest = c->inlen - hdr - clen;
  if (rest) memmove(c->in, c->in + hdr + clen, rest);
  c->inlen = rest;
  return 1;
}

int main(int argc, char **argv) {
  const char *path = "/", *outfile = NULL;
  char headers[4096] = "";
  int opt;
  while ((opt = getopt(argc, argv, "p:r:d:c:w:P:H:o:")) != -1) {
    switch (opt) {
    case 'p': port = atoi(optarg); break;
    case 'r': rate = atof(optarg); break;
    case 'd': seconds = atof(optarg); break;
    case 'c': nconns = atoi(optarg); break;
    case 'w': warmup = atof(optarg); break;
    case 'P': path = optarg; break;
    case 'H':
      strncat(headers, optarg, sizeof headers - strlen(headers) - 3);
      strcat(headers, "\r\n");
      break;
    case 'o': outfile = optarg; break;
    default:
      fprintf(stderr, "usage: oload -p PORT -r RATE -d SECONDS [-c CONNS] [-w WARMUP] [-P PATH] "
                      "[-H 'k: v']... -o FILE\n");
      return 2;
    }
  }
  if (!port || !outfile || rate <= 0 || nconns < 1 || nconns > MAX_CONNS) {
    fprintf(stderr, "oload: -p, -o and a positive -r are required; -c is 1..%d\n", MAX_CONNS);
    return 2;
  }
  reqlen = (size_t)snprintf(request, sizeof request,
                            "GET %s HTTP/1.1\r\nHost: bench\r\nUser-Agent: oload\r\n%s\r\n", path,
                            headers);
  out = fopen(outfile, "w");
  if (!out) die(outfile);
  qcap = (size_t)(rate * (seconds + warmup)) + 16;
  queue = malloc(qcap * sizeof *queue);
  if (!queue) die("malloc");

  ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  for (int i = 0; i < nconns; i++) open_conn(&conns[i]);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  if (tfd < 0) die("timerfd_create");
  struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);

  const uint64_t interval = (uint64_t)(1e9 / rate);
  const uint64_t t0 = now_ns() + 50000000ull; // 50 ms for the connects
  const uint64_t rec_from = t0 + (uint64_t)(warmup * 1e9);
  const uint64_t t_end = rec_from + (uint64_t)(seconds * 1e9);
  const uint64_t drain_until = t_end + 2000000000ull;
  uint64_t k = 0;
  struct epoll_event evs[64];

  for (;;) {
    uint64_t now = now_ns();
    uint64_t due;
    while ((due = t0 + k * interval) <= now && due < t_end) {
      queue[qtail++] = due;
      scheduled++;
      k++;
    }
    // Hand queued requests to idle connections.
    for (int i = 0; i < nconns && qhead < qtail; i++) {
      conn_t *c = &conns[i];
      if (c->connected && !c->busy) {
        if (now - queue[qhead] > 1000000ull) late++; // sent more than 1 ms after its time
        send_on(c, queue[qhead++], t0, rec_from);
      }
    }
    int outstanding = qtail - qhead > 0;
    for (int i = 0; i < nconns && !outstanding; i++) outstanding = conns[i].busy;
    if (due >= t_end && !outstanding) break;
    if (now >= drain_until) break;

    struct itimerspec its = {0};
    uint64_t wake = due < t_end ? due : drain_until;
    its.it_value.tv_sec = (time_t)(wake / 1000000000ull);
    its.it_value.tv_nsec = (long)(wake % 1000000000ull);
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
    int n = epoll_wait(ep, evs, 64, -1);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int e = 0; e < n; e++) {
      conn_t *c = evs[e].data.ptr;
      if (!c) {
        uint64_t x;
        while (read(tfd, &x, sizeof x) > 0) {
        }
        continue;
      }
      if (!c->connected && (evs[e].events & EPOLLOUT)) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
          errno = err;
          die("connect");
        }
        c->connected = 1;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
      }
      if (evs[e].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        for (;;) {
          ssize_t r = recv(c->fd, c->in + c->inlen, INBUF - c->inlen, 0);
          if (r > 0) {
            c->inlen += (size_t)r;
            continue;
          }
          if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
          reopen(c); // closed or failed
          break;
        }
        if (c->busy && complete_response(c)) {
          uint64_t done = now_ns();
          c->busy = 0;
          completed++;
          if (c->record)
            fprintf(out, "%.1f %.1f\n", (double)(done - c->sched) / 1e3,
                    (double)(done - c->sent) / 1e3);
        }
      }
    }
  }
  fclose(out);
  printf("{\"scheduled\":%llu,\"completed\":%llu,\"errors\":%llu,\"late\":%llu,\"seconds\":%.3f}\n",
         (unsigned long long)scheduled, (unsigned long long)completed,
         (unsigned long long)errors, (unsigned long long)late, (double)(now_ns() - t0) / 1e9);
  return 0;
}
