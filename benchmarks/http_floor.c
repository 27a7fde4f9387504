/* The floor for a small HTTP answer on this machine: what a server does with nothing but the
 * syscalls the work needs. Each of THREADS threads has its own listening socket on PORT
 * (SO_REUSEPORT, as nginx's workers) and its own epoll; a readable connection is read until a
 * read comes back short (drained, as nginx judges it: no read that finds nothing), and for every
 * complete request head in what came (keep-alive, pipelined) the same fixed answer goes back in
 * one send. No parsing beyond finding "\r\n\r\n", no timers, no allocation per request.
 *
 * With `rearm`, every readable connection also costs one epoll_ctl(EPOLL_CTL_MOD) after its
 * answer, as Asio's async_wait re-arms a socket before each wait: what that syscall costs svckit
 * per request, measured on its own.
 *
 *   build/bin/http_floor PORT BODY [THREADS=2] [rearm]
 *
 * Runs until killed. benchmarks/nginx_parity.py runs it beside svckit and nginx. */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static int port;
static int rearm;
static char answer[8192];
static size_t answer_size;

static int listen_on(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr*)&address, sizeof address) != 0 || listen(fd, 4096) != 0) {
    perror("http_floor: listen");
    exit(1);
  }
  return fd;
}

/* Complete request heads in `data`; `carry` is how many bytes of "\r\n\r\n" the previous read
 * ended with, and comes back updated. */
static int count_heads(const char* data, size_t n, int* carry) {
  static const char end[] = "\r\n\r\n";
  int heads = 0, matched = *carry;
  for (size_t i = 0; i < n; ++i) {
    if (data[i] == end[matched]) {
      if (++matched == 4) {
        ++heads;
        matched = 0;
      }
    } else {
      matched = data[i] == '\r' ? 1 : 0;
    }
  }
  *carry = matched;
  return heads;
}

struct Connection {
  int fd;
  int carry;
};

static void* serve(void* unused) {
  (void)unused;
  int listener = listen_on();
  int epoll = epoll_create1(0);
  struct epoll_event event = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);
  struct epoll_event ready[256];
  char buffer[16384];
  char out[1024 * 64];
  for (;;) {
    int n = epoll_wait(epoll, ready, 256, -1);
    for (int i = 0; i < n; ++i) {
      struct Connection* c = ready[i].data.ptr;
      if (!c) { /* the listener: take every waiting connection */
        int fd;
        while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          int one = 1;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct Connection* fresh = calloc(1, sizeof *fresh);
          fresh->fd = fd;
          struct epoll_event e = {.events = EPOLLIN, .data.ptr = fresh};
          epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &e);
        }
        continue;
      }
      int heads = 0, closed = 0;
      for (;;) {
        ssize_t got = recv(c->fd, buffer, sizeof buffer, 0);
        if (got > 0) {
          heads += count_heads(buffer, (size_t)got, &c->carry);
          if ((size_t)got < sizeof buffer) break; /* drained: no read that finds nothing */
          continue;
        }
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        closed = 1;
        break;
      }
      while (heads > 0 && !closed) {
        int batch =
            heads < (int)(sizeof out / answer_size) ? heads : (int)(sizeof out / answer_size);
        for (int k = 0; k < batch; ++k) memcpy(out + (size_t)k * answer_size, answer, answer_size);
        if (send(c->fd, out, (size_t)batch * answer_size, MSG_NOSIGNAL) < 0) closed = 1;
        heads -= batch;
      }
      if (closed) {
        close(c->fd); /* also leaves the epoll set */
        free(c);
      } else if (rearm) {
        struct epoll_event again = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(epoll, EPOLL_CTL_MOD, c->fd, &again);
      }
    }
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: http_floor PORT BODY [THREADS] [rearm]\n");
    return 2;
  }
  port = atoi(argv[1]);
  const char* body = argv[2];
  int threads = argc > 3 ? atoi(argv[3]) : 2;
  rearm = argc > 4 && strcmp(argv[4], "rearm") == 0;
  int n = snprintf(answer, sizeof answer,
                   "HTTP/1.1 200 OK\r\nServer: floor\r\nDate: Mon, 07 Dec 2026 00:00:00 GMT\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                   strlen(body), body);
  if (port <= 0 || threads <= 0 || n <= 0 || (size_t)n >= sizeof answer) {
    fprintf(stderr, "http_floor: a port, a body under 8,000 bytes, and threads\n");
    return 2;
  }
  answer_size = (size_t)n;
  pthread_t workers[64];
  if (threads > 64) threads = 64;
  for (int i = 0; i < threads; ++i) pthread_create(&workers[i], NULL, serve, NULL);
  for (int i = 0; i < threads; ++i) pthread_join(workers[i], NULL);
  return 0;
}
